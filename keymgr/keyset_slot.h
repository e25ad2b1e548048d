// KeyService's per-keyset state (private to keymgr/key_service.cc and keymgr/reconcile.cc).
#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include "common/fair_shared_mutex.h"
#include "keymgr/key_service.h"

namespace keymgr {

struct KeyService::KeysetSlot {
  std::mutex mu;  // serialises changes to this keyset
  // Signers hold it shared; changes that can end a key's signing hold it exclusively (SignGuard).
  std::shared_ptr<FairSharedMutex> sign_mu = std::make_shared<FairSharedMutex>();
  mutable std::mutex health_mu;
  KeysetHealth health;                    // guarded by health_mu
  std::optional<TimePoint> last_attempt;  // guarded by health_mu: when advance() last ran
  std::optional<TimePoint> last_gap_at;   // guarded by health_mu: the last signing gap, since start
};

}  // namespace keymgr
