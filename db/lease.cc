#include "db/lease.h"

#include <string>

namespace keymgr::db {

Status check_fence(const Fence& fence, const std::optional<Lease>& stored, int64_t now_ms) {
  std::string why;
  if (!stored) {
    why = "it was never granted";
  } else if (stored->epoch != fence.epoch) {
    why = "it is at epoch " + std::to_string(stored->epoch) + ", held by '" + stored->holder + "'";
  } else if (stored->expires_at_ms <= now_ms) {
    why = "it expired " + std::to_string(now_ms - stored->expires_at_ms) + " ms ago";
  } else {
    return Status::Ok();
  }
  return FailedPrecondition("write refused: lease '" + fence.lease + "' is no longer held at epoch " +
                                std::to_string(fence.epoch) + " (" + why + "); a stale leader may not act",
                            "stale_leader");
}

Result<Lease> grant_lease(std::string_view name, std::string_view holder, int64_t ttl_ms,
                          const std::optional<Lease>& stored, int64_t now_ms) {
  if (holder.empty()) return InvalidArgument("lease holder is empty");
  if (ttl_ms < 1) return InvalidArgument("lease ttl must be positive");
  const bool live = stored && stored->expires_at_ms > now_ms;
  if (live && stored->holder != holder) {
    return FailedPrecondition("lease '" + std::string(name) + "' is held by '" + stored->holder + "' for " +
                                  std::to_string(stored->expires_at_ms - now_ms) + " ms more",
                              "lease_held");
  }
  Lease l;
  l.name = std::string(name);
  l.holder = std::string(holder);
  // A renewal keeps the epoch; any new grant (another holder, or after expiry) moves it on.
  l.epoch = live ? stored->epoch : (stored ? stored->epoch + 1 : 1);
  l.expires_at_ms = now_ms + ttl_ms;
  return l;
}

}  // namespace keymgr::db
