#include "keymgr/audit_service.h"

#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "db/ledger_checkpoint.h"
#include "hsm/public_key.h"

namespace keymgr {
using nlohmann::json;

AuditService::AuditService(hsm::Hsm& hsm, db::Store& store, const Clock& clock)
    : hsm_(hsm), store_(store), clock_(clock) {}

Status AuditService::ensure_key() {
  std::lock_guard lk(mu_);
  return ensure_key_locked();
}

Status AuditService::ensure_key_locked() {
  if (!key_id_.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(auto keys, hsm_.list_keys(kAuditKeyLabel));
  hsm::KeyInfo info;
  bool found = false;
  for (const auto& k : keys) {
    if (k.label == kAuditKeyLabel) {
      info = k;
      found = true;
    }
  }
  // The hash-chain checkpoint key of earlier versions is only looked up (its checkpoints stay
  // listed); tree checkpoints are signed by LedgerLog's audit keys.
  if (!found) return NotFound("no legacy checkpoint key in the HSM", "audit_key_unavailable");
  json jwk = hsm::public_jwk(info.public_key);
  jwk["kid"] = hsm::jwk_thumbprint(jwk);
  jwk["alg"] = "ES256";
  jwk["use"] = "sig";
  key_id_ = info.id;
  jwk_ = std::move(jwk);
  return Status::Ok();
}

Result<json> AuditService::public_jwk() {
  std::lock_guard lk(mu_);
  if (key_id_.empty() && !looked_up_) {
    Status st = ensure_key_locked();
    looked_up_ = st.ok() || st.code() == ErrorCode::kNotFound;  // an HSM outage is asked again next time
  }
  if (key_id_.empty()) return NotFound("no legacy checkpoint key in the HSM", "audit_key_unavailable");
  return jwk_;
}

Result<db::LedgerPage> AuditService::query(const db::LedgerQuery& q) { return store_.query_ledger(q); }

Status AuditService::export_entries(const db::LedgerQuery& q, const std::function<bool(const db::LedgerEntry&)>& sink) {
  return store_.export_ledger(q, sink);
}

Result<std::vector<db::LedgerCheckpoint>> AuditService::checkpoints(int limit) { return store_.list_checkpoints(limit); }

Status AuditService::affected_tokens(std::string_view kid, int64_t since_s,
                                     const std::function<bool(const db::LedgerEntry&)>& sink) {
  return store_.tokens_signed_since(kid, since_s * 1000, to_unix_seconds(clock_.now()), sink);
}

json ledger_entry_to_json(const db::LedgerEntry& e) {
  json j = {{"seq", e.seq},           {"ts_ms", e.ts_ms},   {"kind", e.kind},         {"event", e.event},
            {"keyset", e.keyset},     {"kid", e.kid},       {"alg", e.alg},           {"actor", e.actor},
            {"actor_addr", e.actor_addr}, {"outcome", e.outcome}, {"reason", e.reason}, {"hash", hex_encode(e.hash)}};
  if (e.kind == "sign") {
    j["jti"] = e.jti;
    j["sub"] = e.sub;
    j["aud"] = e.aud;
    j["iat"] = e.iat;
    j["exp"] = e.exp;
    j["token_sha256"] = e.token_sha256;
  } else if (!e.token_sha256.empty()) {
    j["token_sha256"] = e.token_sha256;  // an alert's evidence: the token presented
  }
  if (!e.detail.empty()) {
    json d = json::parse(e.detail, nullptr, false);
    j["detail"] = d.is_discarded() ? json(e.detail) : d;
  }
  return j;
}

json checkpoint_to_json(const db::LedgerCheckpoint& cp) {
  return {{"seq", cp.seq},
          {"head", hex_encode(cp.head)},
          {"ts_ms", cp.ts_ms},
          {"kid", cp.kid},
          {"alg", cp.alg},
          {"signing_input", db::ledger_checkpoint_signing_input(cp)},
          {"signature", base64url_encode(cp.signature)}};
}

}  // namespace keymgr
