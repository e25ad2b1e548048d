#include "keymgr/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace keymgr {

int64_t RateLimiter::take(std::string_view key, int64_t rate, int64_t burst, TimePoint now) {
  if (rate <= 0) return 0;
  const double cap = static_cast<double>(burst > 0 ? burst : rate);
  std::lock_guard lk(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) it = buckets_.emplace(std::string(key), Bucket{}).first;
  Bucket& b = it->second;
  if (b.fresh) {
    b.tokens = cap;
    b.last = now;
    b.fresh = false;
  } else if (now > b.last) {
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(cap, b.tokens + elapsed * static_cast<double>(rate));
    b.last = now;
  }
  b.tokens = std::min(b.tokens, cap);  // the limit may have been lowered
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - b.tokens) * 1000.0 / static_cast<double>(rate))));
}

}  // namespace keymgr
