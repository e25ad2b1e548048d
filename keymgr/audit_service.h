// The auditor's view of the ledger: queries and exports, and "tokens affected by a compromise".
// The HTTP API reads ledger entries only through this service; the transparency log (Merkle tree,
// signed checkpoints, proofs, the full audit) is keymgr/ledger_log.h.
//
// Earlier versions signed hash-chain checkpoints with an ES256 key labelled "keymgr-audit"; those
// checkpoints stay listed, and the key, if the HSM has it, stays published as a JWK.
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

class AuditService {
 public:
  AuditService(hsm::Hsm& hsm, db::Store& store, const Clock& clock);

  // Finds the legacy checkpoint key (NotFound when the HSM has none; nothing is created).
  Status ensure_key();
  // The legacy key's public JWK (with kid), or NotFound when the HSM has none. The first call looks
  // it up (a listing of the token's keys: seconds on a large SoftHSM2 token, so not at start-up);
  // an answer, found or not, is kept for the life of the process.
  Result<nlohmann::json> public_jwk();

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
  Status ensure_key_locked();
  std::string key_id_;         // guarded by mu_
  bool looked_up_ = false;     // guarded by mu_: the HSM answered (found or NotFound)
  nlohmann::json jwk_;         // guarded by mu_
};

nlohmann::json ledger_entry_to_json(const db::LedgerEntry& e);
nlohmann::json checkpoint_to_json(const db::LedgerCheckpoint& cp);

}  // namespace keymgr
