// Readiness: whether this instance can do its job now (GET /readyz). Ready when the HSM answers,
// the store can commit a write, and no keyset is overdue or failing its scheduled work.
//
// Owns nothing: `hsm`, `store` and `keys` must outlive it. Each check() asks the HSM and the store
// afresh (nothing cached), so a probe sees an outage at once.
// Thread-safety: check() may be called concurrently.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "db/store.h"
#include "hsm/hsm.h"
#include "keymgr/key_service.h"
#include "keymgr/ledger_log.h"

namespace keymgr {

struct Readiness {
  Status hsm;       // Hsm::health()
  Status database;  // Store::check_writable()
  std::vector<KeysetHealth> failing_keysets;  // overdue, or whose last scheduled step failed
  // Ledger entries wait for the Merkle tree longer than max(5 s, 5 x ledger.integrate_max_delay)
  // (kUnavailable "ledger_integration_behind"), or the lag cannot be read.
  Status ledger_log;
  LedgerLog::Lag ledger_lag;
  // With ledger.witness_quorum > 0: kUnavailable "witness_quorum" when checkpoints wait for their
  // witness cosignatures too long (WitnessClient::quorum_status).
  Status witnesses;
  bool ready() const {
    return hsm.ok() && database.ok() && failing_keysets.empty() && ledger_log.ok() && witnesses.ok();
  }
};

class ReadinessService {
 public:
  // `log` may be null (no ledger log check), `witnesses` empty (no witness check; else e.g.
  // WitnessClient::quorum_status).
  ReadinessService(hsm::Hsm& hsm, db::Store& store, const KeyService& keys, LedgerLog* log = nullptr,
                   std::function<Status()> witnesses = nullptr);
  ReadinessService(const ReadinessService&) = delete;
  ReadinessService& operator=(const ReadinessService&) = delete;

  Readiness check() const;

 private:
  hsm::Hsm& hsm_;
  db::Store& store_;
  const KeyService& keys_;
  LedgerLog* log_;
  std::function<Status()> witnesses_;
};

}  // namespace keymgr
