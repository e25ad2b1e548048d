// Leases and fencing as every backend decides them (db/store.h acquire_lease, Fence): the rules
// live here, the backend only reads and writes the row in its transaction and supplies the
// database's clock.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/status.h"
#include "db/records.h"

namespace keymgr::db {

// The verdict on a fenced write, the same for every backend: Ok when the stored lease `stored`
// (nullopt: never granted) is held at fence.epoch and unexpired at now_ms (the database's clock);
// else kFailedPrecondition "stale_leader", saying why.
Status check_fence(const Fence& fence, const std::optional<Lease>& stored, int64_t now_ms);
// The grant decision of acquire_lease for every backend: the lease `holder` gets at now_ms, or
// kFailedPrecondition "lease_held".
Result<Lease> grant_lease(std::string_view name, std::string_view holder, int64_t ttl_ms,
                          const std::optional<Lease>& stored, int64_t now_ms);

}  // namespace keymgr::db
