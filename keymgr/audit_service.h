// The auditor's view of the ledger: queries and exports, chain verification including signed
// checkpoints, periodic checkpoints signed by an HSM-held audit key of their own, and "tokens
// affected by a compromise". The HTTP API reads the ledger only through this service.
//
// The audit key (ES256, label "keymgr-audit") is generated in the HSM on first use and published
// as a JWK so anyone who kept a checkpoint can verify it with OpenSSL.
// Owns the audit key's id and JWK; `hsm`, `store` and `clock` must outlive it.
// Thread-safety: all methods may be called concurrently. Sinks must not call back into the store's
// write methods (db/store.h).
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "db/store.h"
#include "hsm/hsm.h"

namespace keymgr {

inline constexpr std::string_view kAuditKeyLabel = "keymgr-audit";

struct AuditReport {
  db::ChainReport chain;
  int checkpoints_checked = 0;
  std::optional<int64_t> bad_checkpoint_seq;  // a checkpoint whose signature does not verify
  bool ok() const { return chain.ok && !bad_checkpoint_seq; }
};

class AuditService {
 public:
  AuditService(hsm::Hsm& hsm, db::Store& store, const Clock& clock);

  // Finds or creates the audit key. Unavailable if the HSM cannot be reached.
  Status ensure_key();
  // The audit key's public JWK (with kid), or NotFound before ensure_key() succeeded.
  Result<nlohmann::json> public_jwk();
  // Signs and stores a checkpoint of the current chain head, unless nothing changed since the last.
  Result<std::optional<db::LedgerCheckpoint>> checkpoint();
  Result<AuditReport> verify();

  // One page of matching ledger entries, newest first (db::Store::query_ledger()).
  Result<db::LedgerPage> query(const db::LedgerQuery& q);
  // Every matching entry, newest first, to `sink` until it returns false.
  Status export_entries(const db::LedgerQuery& q, const std::function<bool(const db::LedgerEntry&)>& sink);
  // The newest `limit` signed checkpoints, newest first.
  Result<std::vector<db::LedgerCheckpoint>> checkpoints(int limit);
  // Tokens signed by `kid` at or after `since_s` (Unix seconds) that have not expired yet (now by
  // the service's clock), oldest first, to `sink` until it returns false: who must be told when
  // `kid` is compromised.
  Status affected_tokens(std::string_view kid, int64_t since_s, const std::function<bool(const db::LedgerEntry&)>& sink);

 private:
  hsm::Hsm& hsm_;
  db::Store& store_;
  const Clock& clock_;
  std::mutex mu_;
  std::string key_id_;         // guarded by mu_
  nlohmann::json jwk_;         // guarded by mu_
};

nlohmann::json ledger_entry_to_json(const db::LedgerEntry& e);
nlohmann::json checkpoint_to_json(const db::LedgerCheckpoint& cp);

}  // namespace keymgr
