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
  if (!found) {
    ASSIGN_OR_RETURN(Bytes rnd, random_bytes(16));
    ASSIGN_OR_RETURN(info, hsm_.generate_key(Algorithm::kES256, hex_encode(rnd), kAuditKeyLabel));
    spdlog::info("audit: created checkpoint signing key in the HSM");
  }
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
  if (key_id_.empty()) return NotFound("audit key not available yet", "audit_key_unavailable");
  return jwk_;
}

Result<std::optional<db::LedgerCheckpoint>> AuditService::checkpoint() {
  RETURN_IF_ERROR(ensure_key());
  auto head = store_.ledger_head();
  if (!head.ok()) {
    if (head.status().code() == ErrorCode::kNotFound) return std::optional<db::LedgerCheckpoint>{};
    return head.status();
  }
  ASSIGN_OR_RETURN(auto last, store_.list_checkpoints(1));
  if (!last.empty() && last.front().seq == head->seq) return std::optional<db::LedgerCheckpoint>{};
  db::LedgerCheckpoint cp;
  cp.seq = head->seq;
  cp.head = head->hash;
  cp.ts_ms = to_unix_millis(clock_.now());
  std::string key_id;
  {
    std::lock_guard lk(mu_);
    cp.kid = jwk_["kid"].get<std::string>();
    key_id = key_id_;
  }
  cp.alg = "ES256";
  ASSIGN_OR_RETURN(cp.signature, hsm_.sign(key_id, Algorithm::kES256, db::ledger_checkpoint_signing_input(cp)));
  RETURN_IF_ERROR(store_.add_checkpoint(cp));
  return std::optional<db::LedgerCheckpoint>{cp};
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

Result<AuditReport> AuditService::verify() {
  AuditReport rep;
  ASSIGN_OR_RETURN(rep.chain, store_.verify_chain());
  ASSIGN_OR_RETURN(auto cps, store_.list_checkpoints(1000));
  std::optional<hsm::PublicKey> pk;
  if (public_jwk().ok()) {
    auto k = hsm::public_key_from_jwk(*public_jwk(), Algorithm::kES256);
    if (k.ok()) pk = *k;
  }
  for (const auto& cp : cps) {
    if (!pk) break;
    rep.checkpoints_checked++;
    Status st =
        hsm::verify_jws_signature(*pk, Algorithm::kES256, db::ledger_checkpoint_signing_input(cp), cp.signature);
    if (!st.ok() && (!rep.bad_checkpoint_seq || cp.seq < *rep.bad_checkpoint_seq)) rep.bad_checkpoint_seq = cp.seq;
  }
  return rep;
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
