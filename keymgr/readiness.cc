#include "keymgr/readiness.h"

namespace keymgr {

ReadinessService::ReadinessService(hsm::Hsm& hsm, db::Store& store, const KeyService& keys)
    : hsm_(hsm), store_(store), keys_(keys) {}

Readiness ReadinessService::check() const {
  Readiness r;
  r.hsm = hsm_.health();
  r.database = store_.check_writable();
  for (auto& h : keys_.health_all()) {
    if (h.overdue || !h.last_error.empty()) r.failing_keysets.push_back(std::move(h));
  }
  return r;
}

}  // namespace keymgr
