#include "keymgr/readiness.h"

namespace keymgr {

ReadinessService::ReadinessService(hsm::Hsm& hsm, db::Store& store, const KeyService& keys, LedgerLog* log,
                                   std::function<Status()> witnesses)
    : hsm_(hsm), store_(store), keys_(keys), log_(log), witnesses_(std::move(witnesses)) {}

Readiness ReadinessService::check() const {
  Readiness r;
  r.hsm = hsm_.health();
  r.database = store_.check_writable();
  for (auto& h : keys_.health_all()) {
    if (h.overdue || !h.last_error.empty()) r.failing_keysets.push_back(std::move(h));
  }
  if (log_ != nullptr) {
    auto lag = log_->lag();
    if (!lag.ok()) {
      r.ledger_log = lag.status();
    } else {
      r.ledger_lag = *lag;
      if (lag->behind) {
        r.ledger_log = Unavailable(std::to_string(lag->pending) + " ledger entries wait for the Merkle tree; the oldest for " +
                                       std::to_string(lag->oldest_age.count()) + " ms",
                                   "ledger_integration_behind");
      }
    }
  }
  if (witnesses_) r.witnesses = witnesses_();
  return r;
}

}  // namespace keymgr
