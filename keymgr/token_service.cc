#include "keymgr/token_service.h"

#include <limits>
#include <optional>
#include <set>

#include <chrono>

#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/json_util.h"
#include "db/signing_admission.h"
#include "hsm/public_key.h"

namespace keymgr {
namespace {
using nlohmann::json;

std::string aud_text(const json& claims) {
  auto it = claims.find("aud");
  if (it == claims.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}
std::string str_claim(const json& claims, const char* name) {
  auto it = claims.find(name);
  return (it != claims.end() && it->is_string()) ? it->get<std::string>() : "";
}
}  // namespace

Status validate_claims(const json& claims, const std::string& issuer) {
  if (!claims.is_object()) return InvalidArgument("claims must be a JSON object", "bad_claims");
  if (claims.dump().size() > kMaxClaimsBytes) {
    return ResourceExhausted("claims larger than " + std::to_string(kMaxClaimsBytes) + " bytes", "claims_too_large");
  }
  for (const char* reserved : {"iat", "nbf", "exp", "jti"}) {
    if (claims.contains(reserved)) {
      return InvalidArgument(std::string("claim '") + reserved + "' is set by keymgr; do not send it", "reserved_claim");
    }
  }
  if (auto it = claims.find("iss"); it != claims.end()) {
    if (!it->is_string() || it->get<std::string>() != issuer) {
      // Bad input, not a refused role or binding: 400 like the other claim checks.
      return InvalidArgument("claim 'iss' must be this keyset's issuer '" + issuer + "' (or be left out)", "iss_mismatch");
    }
  }
  if (auto it = claims.find("sub"); it != claims.end() && (!it->is_string() || it->get<std::string>().empty())) {
    return InvalidArgument("claim 'sub' must be a non-empty string", "bad_claims");
  }
  if (auto it = claims.find("aud"); it != claims.end()) {
    bool ok = it->is_string() && !it->get<std::string>().empty();
    if (it->is_array() && !it->empty()) {
      ok = true;
      for (const auto& a : *it) ok = ok && a.is_string() && !a.get<std::string>().empty();
    }
    if (!ok) return InvalidArgument("claim 'aud' must be a string or a non-empty array of strings", "bad_claims");
  }
  return Status::Ok();
}

TokenService::TokenService(KeyService& keys, hsm::Hsm& hsm, db::Store& store, Metrics* metrics)
    : keys_(keys), hsm_(hsm), store_(store), metrics_(metrics) {}

void TokenService::count(std::string_view keyset, std::string_view alg, std::string_view outcome) {
  if (metrics_ == nullptr) return;
  metrics_->inc("keymgr_signatures_total", "keyset=\"" + Metrics::label_value(std::string(keyset)) + "\",alg=\"" +
                                               std::string(alg) + "\",outcome=\"" + std::string(outcome) + "\"");
}

void TokenService::refuse(const SignRequest& req, const std::string& kid, const Status& why, const json& claims) {
  db::LedgerEntry e;
  e.ts_ms = to_unix_millis(keys_.clock().now());
  e.kind = "sign";
  e.event = "sign";
  e.keyset = req.keyset;
  e.kid = kid;
  e.actor = req.actor.name;
  e.actor_addr = req.actor.addr;
  if (claims.is_object()) {
    e.sub = str_claim(claims, "sub");
    e.aud = aud_text(claims);
  }
  const std::string outcome = why.code() == ErrorCode::kUnavailable ? "error" : "refused";
  e.outcome = outcome;
  e.reason = std::string(why.reason());
  auto st = store_.append_ledger(std::move(e));
  if (!st.ok()) spdlog::error("ledger: could not record a refused signing: {}", st.status().to_string());
  count(req.keyset, "", outcome);
  // Refusals by policy (not bad input, not an outage or a race) feed signing_outside_policy.
  static const std::set<std::string, std::less<>> kPolicy = {"keyset_disabled", "issuer_not_bound", "key_expired",
                                                             "key_not_yet_active", "no_signing_key"};
  if (monitor_ != nullptr && kPolicy.count(why.reason()) > 0) {
    monitor_->signing_refused(req.keyset, kid, why.reason(), req.actor);
  }
}

void TokenService::record_refusal(std::string_view keyset, const Actor& actor, std::string_view reason) {
  SignRequest req;
  req.keyset = std::string(keyset);
  req.actor = actor;
  refuse(req, "", PermissionDenied("refused", std::string(reason)), nullptr);
}

Result<SignedToken> TokenService::sign(const SignRequest& req) {
  std::string exhausted;
  auto r = sign_once(req, &exhausted);
  if (r.ok() || exhausted.empty()) return r;
  // The key made its max_signatures (the store refused the signature, so the limit holds
  // exactly): switch to its successor, then sign once more with the key that signs now. Another
  // signer or instance may have switched already; retire_exhausted then does nothing.
  if (auto after = keys_.retire_exhausted(req.keyset, exhausted, Actor{"usage-limit", "local"}); !after.ok()) {
    spdlog::warn("keyset {}: switching from key {} after its usage limit: {}", req.keyset, exhausted,
                 after.status().to_string());
  }
  return sign_once(req, nullptr);
}

Result<SignedToken> TokenService::sign_once(const SignRequest& req, std::string* exhausted) {
  const auto started = std::chrono::steady_clock::now();
  // Choose the key (promoting a due successor if the scheduler is late), then check it again
  // under the sign guard, where no transition can land until the ledger record is durable.
  auto sk = keys_.signing_key(req.keyset, keys_.clock().now());
  if (!sk.ok()) {
    if (sk.status().code() != ErrorCode::kNotFound) refuse(req, "", sk.status(), req.claims);
    return sk.status();
  }
  std::optional<KeyService::SignGuard> guard;
  guard.emplace(keys_.sign_guard(req.keyset));
  const TimePoint now = keys_.clock().now();
  const KeysetPtr snapshot = keys_.find_keyset(req.keyset);
  const Key* current = snapshot ? snapshot->active_key() : nullptr;
  if (!snapshot || snapshot->disabled || current == nullptr || !current->can_sign_at(now)) {
    Status st = Unavailable("the signing key changed state; retry", "key_state_changed");
    refuse(req, "", st, req.claims);
    return st;
  }
  const Keyset& ks = *snapshot;
  const Key& key = *current;
  if (Status st = validate_claims(req.claims, ks.issuer); !st.ok()) {
    refuse(req, key.kid, st, req.claims);
    return st;
  }
  const Policy& p = ks.policy;
  int64_t ttl = req.ttl_seconds.value_or(std::min<int64_t>(p.max_token_ttl.count(), 3600));
  if (ttl <= 0) {
    Status st = InvalidArgument("ttl must be a positive number of seconds", "bad_ttl");
    refuse(req, key.kid, st, req.claims);
    return st;
  }
  // Rate limits, the keyset's and the caller's: refused before the HSM is asked.
  {
    // Bucket keys are built only when a limit is set: nothing is added to the default path.
    const int64_t ks_wait = p.sign_rate > 0 ? limiter_.take("keyset\n" + ks.name, p.sign_rate, p.sign_burst, now) : 0;
    const int64_t tok_wait = ks_wait > 0 || limits_.token_sign_rate <= 0
                                 ? 0
                                 : limiter_.take("actor\n" + req.actor.name, limits_.token_sign_rate,
                                                 limits_.token_sign_burst, now);
    if (ks_wait > 0 || tok_wait > 0) {
      Status st = ks_wait > 0 ? ResourceExhausted("keyset '" + ks.name + "' signs at most " + std::to_string(p.sign_rate) +
                                                      " tokens per second; retry later",
                                                  "rate_limited")
                              : ResourceExhausted("this API token may sign at most " +
                                                      std::to_string(limits_.token_sign_rate) +
                                                      " tokens per second; retry later",
                                                  "rate_limited");
      refuse(req, key.kid, st, req.claims);
      return st;
    }
  }
  const int64_t iat = to_unix_seconds(now);
  ttl = std::min<int64_t>(ttl, p.max_token_ttl.count());
  // Never outlive the key's publication (minus skew, so verifiers still see the key).
  const int64_t exp = std::min<int64_t>(iat + ttl, to_unix_seconds(key.retire_at) - p.clock_skew.count());
  if (exp <= iat) {
    Status st = Unavailable("the signing key is about to be unpublished", "key_expiring");
    refuse(req, key.kid, st, req.claims);
    return st;
  }
  ASSIGN_OR_RETURN(Bytes jti_raw, random_bytes(16));
  const std::string jti = base64url_encode(jti_raw);

  json payload = req.claims;
  payload["iss"] = ks.issuer;
  payload["iat"] = iat;
  payload["nbf"] = iat;
  payload["exp"] = exp;
  payload["jti"] = jti;
  json header = {{"alg", std::string(jws_alg(key.alg))}, {"kid", key.kid}, {"typ", "JWT"}};
  const std::string signing_input = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());

  auto sig = hsm_.sign(key.hsm_id, key.alg, signing_input);
  if (!sig.ok()) {
    if (metrics_ != nullptr) metrics_->inc("keymgr_hsm_errors_total", "op=\"sign\"");
    if (monitor_ != nullptr) monitor_->hsm_error(ks.name, key.kid, sig.status().message());
    Status st = sig.status().code() == ErrorCode::kUnavailable
                    ? sig.status()
                    : Unavailable("HSM could not sign: " + sig.status().message(), "hsm_unavailable");
    refuse(req, key.kid, st, req.claims);
    return st;
  }
  std::string token = signing_input + "." + base64url_encode(*sig);

  db::LedgerEntry e;
  e.ts_ms = to_unix_millis(now);
  e.kind = "sign";
  e.event = "sign";
  e.keyset = ks.name;
  e.kid = key.kid;
  e.alg = std::string(jws_alg(key.alg));
  e.actor = req.actor.name;
  e.actor_addr = req.actor.addr;
  e.jti = jti;
  e.sub = str_claim(payload, "sub");
  e.aud = aud_text(payload);
  e.iat = iat;
  e.exp = exp;
  e.token_sha256 = hex_encode(sha256(token));
  e.outcome = "ok";
  e.usage_limit = p.max_signatures;
  const std::string aud = monitor_ != nullptr ? e.aud : std::string();
  // append_signature: the store admits the record only if the key may still sign as committed
  // (db/signing_admission.h), which is what makes suspend/compromise exact across instances.
  auto seq = store_.append_signature(std::move(e));
  if (!seq.ok() && seq.status().reason() == db::kKeyUsageExhausted) {
    // Dropped: the key has made its max_signatures. sign() switches to the successor.
    const std::string kid = key.kid;
    guard.reset();
    refuse(req, kid, seq.status(), req.claims);  // recorded as refused: the HSM's signature was discarded
    if (exhausted != nullptr) *exhausted = kid;
    return Unavailable(seq.status().message() + "; its successor is not signing yet, retry",
                       std::string(db::kKeyUsageExhausted));
  }
  if (!seq.ok() && seq.status().reason() == db::kKeyNotSigning) {
    // Another instance changed the key after this process's snapshot: the token is dropped, the
    // refusal recorded, and the snapshot reloaded so that the caller's retry signs with the key the
    // database says is active.
    const std::string kid = key.kid;
    const std::string keyset = ks.name;
    guard.reset();
    Status st = Unavailable("the signing key changed state on another instance; retry (" +
                                seq.status().message() + ")",
                            "key_state_changed");
    refuse(req, kid, st, req.claims);
    if (metrics_ != nullptr) metrics_->inc("keymgr_stale_key_refusals_total", "keyset=\"" + Metrics::label_value(keyset) + "\"");
    if (auto r = keys_.refresh_keyset(keyset); !r.ok()) {
      spdlog::warn("sign: could not reload keyset '{}' after a stale-key refusal: {}", keyset, r.status().to_string());
    }
    return st;
  }
  if (!seq.ok()) {
    // Fail closed: a token that is not in the ledger must not exist.
    count(ks.name, jws_alg(key.alg), "error");
    return Unavailable("the signing ledger cannot record the token: " + seq.status().message(), "ledger_unavailable");
  }
  count(ks.name, jws_alg(key.alg), "ok");
  // The unusual-use detectors see the token once it is durable (they never change the answer).
  if (monitor_ != nullptr) monitor_->token_signed(ks.name, key.kid, req.actor, aud, now);
  if (metrics_ != nullptr) {
    metrics_->observe("keymgr_sign_duration_seconds", "keyset=\"" + Metrics::label_value(ks.name) + "\"",
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  SignedToken out;
  out.token = std::move(token);
  out.kid = key.kid;
  out.alg = std::string(jws_alg(key.alg));
  out.jti = jti;
  out.iat = iat;
  out.exp = exp;
  out.ledger_seq = *seq;
  return out;
}

Result<std::shared_ptr<const hsm::JwsVerifier>> TokenService::verifier_for(const Key& key) {
  {
    std::shared_lock lk(verifiers_mu_);
    auto it = verifiers_.find(key.kid);
    if (it != verifiers_.end() && it->second.verifier->alg() == key.alg && it->second.jwk == key.jwk) {
      return it->second.verifier;
    }
  }
  ASSIGN_OR_RETURN(hsm::PublicKey pk, hsm::public_key_from_jwk(key.jwk, key.alg));
  ASSIGN_OR_RETURN(auto verifier, hsm::JwsVerifier::create(pk, key.alg));
  std::unique_lock lk(verifiers_mu_);
  if (verifiers_.size() >= kMaxVerifiers) verifiers_.clear();
  verifiers_[key.kid] = CachedVerifier{key.jwk, verifier};
  return verifier;
}

Result<VerifyResult> TokenService::verify(std::string_view keyset, std::string_view token, const Actor& presenter,
                                          std::string_view source) {
  VerifyResult r;
  auto add = [&](std::string name, bool ok, std::string detail) {
    r.checks.push_back({std::move(name), ok, std::move(detail)});
    return ok;
  };
  auto finish = [&]() {
    r.valid = !r.checks.empty();
    for (const auto& c : r.checks) r.valid = r.valid && c.ok;
    return r;
  };
  KeysetPtr ks = keys_.find_keyset(keyset);
  if (!ks) return NotFound("no keyset named '" + std::string(keyset) + "'", "keyset_not_found");
  if (token.size() > kMaxTokenBytes) {
    add("format", false, "token larger than " + std::to_string(kMaxTokenBytes) + " bytes");
    return finish();
  }
  const size_t d1 = token.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d1 == std::string_view::npos || d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    add("format", false, "not a compact JWS (three base64url parts)");
    return finish();
  }
  auto hb = base64url_decode(token.substr(0, d1));
  auto pb = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  auto sb = base64url_decode(token.substr(d2 + 1));
  if (!hb || !pb || !sb) {
    add("format", false, "a part is not valid unpadded base64url");
    return finish();
  }
  auto header = parse_json(to_string(*hb), {4096, 4});
  auto payload = parse_json(to_string(*pb), {kMaxTokenBytes, 16});
  if (!header.ok() || !header->is_object() || !payload.ok() || !payload->is_object()) {
    add("format", false, "header and payload must be JSON objects");
    return finish();
  }
  add("format", true, "");
  r.header = *header;
  r.claims = *payload;

  // Header: only what keymgr itself produces is acceptable.
  std::string alg = header->contains("alg") && (*header)["alg"].is_string() ? (*header)["alg"].get<std::string>() : "";
  bool header_ok = true;
  std::string header_detail;
  for (const char* forbidden : {"jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"}) {
    if (header->contains(forbidden)) {
      header_ok = false;
      header_detail = std::string("header member '") + forbidden + "' is not accepted (keys come only from the JWKS)";
    }
  }
  if (header->contains("crit")) {
    header_ok = false;
    header_detail = "header 'crit' names extensions keymgr does not understand";
  }
  add("header", header_ok, header_detail);

  std::string kid = header->contains("kid") && (*header)["kid"].is_string() ? (*header)["kid"].get<std::string>() : "";
  r.kid = kid;
  const Key* key = ks->find(kid);
  if (kid.empty() || key == nullptr) {
    KeysetPtr other = kid.empty() ? nullptr : keys_.find_keyset_by_kid(kid);
    add("kid", false, kid.empty() ? "no kid in header"
                      : other   ? "kid belongs to another keyset; keys never verify across keysets"
                                : "unknown kid");
    add("alg", alg == std::string(jws_alg(ks->alg)), "alg '" + alg + "'");
    if (monitor_ != nullptr && !kid.empty()) monitor_->unknown_kid(ks->name, kid, presenter);
    return finish();
  }
  add("kid", true, "");
  const bool alg_ok = alg == std::string(jws_alg(key->alg));
  bool signature_ok = false;
  add("alg", alg_ok, alg_ok ? "" : "alg '" + alg + "' is not the key's algorithm " + std::string(jws_alg(key->alg)));
  if (alg_ok) {
    auto verifier = verifier_for(*key);
    if (!verifier.ok()) {
      add("signature", false, "key unusable: " + verifier.status().message());
    } else {
      Status v = (*verifier)->verify(token.substr(0, d2), *sb);
      signature_ok = v.ok();
      add("signature", v.ok(), v.ok() ? "" : v.message());
    }
  } else {
    add("signature", false, "not checked: algorithm not allowed");
  }
  const std::string iss = str_claim(*payload, "iss");
  add("scope", iss == ks->issuer, iss == ks->issuer ? "" : "iss '" + iss + "' is not the key's issuer " + ks->issuer);

  const TimePoint now = keys_.clock().now();
  const int64_t now_s = to_unix_seconds(now);
  const int64_t skew = ks->policy.clock_skew.count();
  auto int_claim = [&](const char* n) -> std::optional<int64_t> {
    auto it = payload->find(n);
    if (it == payload->end() || !it->is_number_integer()) return std::nullopt;
    return it->get<int64_t>();
  };
  auto iat = int_claim("iat");
  if (!iat) {
    add("key_active_at_iat", false, "no integer iat");
  } else {
    bool ok = to_unix_seconds(key->activate_at) <= *iat && *iat < to_unix_seconds(key->deactivate_at);
    add("key_active_at_iat", ok, ok ? "" : "the key was not in its signing window at iat");
  }
  if (key->state == KeyState::kCompromised) {
    add("key_state", false, "key marked compromised");
  } else if (!is_published(key->state)) {
    add("key_state", false, "key is " + std::string(key_state_name(key->state)) + " and no longer published");
  } else {
    add("key_state", true, std::string(key_state_name(key->state)));
  }
  const std::string token_hash = hex_encode(sha256(token));
  db::LedgerQuery q;
  q.token_sha256 = token_hash;
  q.kind = "sign";
  q.outcome = "ok";
  q.limit = 1;
  auto found = store_.query_ledger(q);
  if (!found.ok()) {
    return Unavailable("the ledger cannot be read to check provenance: " + found.status().message(),
                       "ledger_unavailable");
  }
  if (found->entries.empty()) {
    add("provenance", false, "token is not in the signing ledger: keymgr did not issue it");
  } else if (found->entries.front().seq == 0) {
    // Durable in the ledger; its position in the log is assigned by the sequencer shortly.
    const bool same_key = found->entries.front().kid == kid;
    const std::string where = "in the signing ledger, not yet sequenced into the log";
    add("provenance", same_key, same_key ? where : where + ", but recorded for key " + found->entries.front().kid);
  } else {
    const int64_t seq = found->entries.front().seq;
    r.ledger_seq = seq;
    r.leaf_index = seq - 1;
    std::string where = "ledger seq " + std::to_string(seq) + ", log leaf " + std::to_string(seq - 1);
    auto cp = store_.tree_checkpoint_at_most(std::numeric_limits<int64_t>::max());
    if (cp.ok() && cp->size >= seq) {
      r.checkpoint_size = cp->size;
      where += ", covered by the signed checkpoint of size " + std::to_string(cp->size);
    } else {
      where += ", not yet covered by a signed checkpoint";
    }
    const bool same_key = found->entries.front().kid == kid;
    add("provenance", same_key, same_key ? where : where + ", but recorded for key " + found->entries.front().kid);
  }
  if (monitor_ != nullptr && signature_ok) {
    // A good signature is what makes these alarming: only the key's holder can produce one. A
    // genuine token (in the ledger) of a key that was compromised or retired later is not a leak
    // signal: it fails verification on key_state, and it is one of the affected tokens ops list.
    std::string why;
    if (found->entries.empty()) {
      why = "not_in_ledger";
    } else if (found->entries.front().kid != kid) {
      why = "ledger_other_key";
    }
    if (!why.empty()) {
      monitor_->token_suspect(SuspectToken{ks->name, kid, token_hash, why, std::string(key_state_name(key->state)),
                                           std::string(source)},
                              presenter);
    }
  }
  auto exp = int_claim("exp");
  // Written so that no claim value, however large, can overflow.
  const bool exp_ok = exp && *exp > now_s - skew;
  add("exp", exp_ok, exp ? (exp_ok ? "" : "expired") : "no integer exp");
  auto nbf = int_claim("nbf");
  if (payload->contains("nbf")) {
    const bool nbf_ok = nbf && *nbf <= now_s + skew;
    add("nbf", nbf_ok, nbf_ok ? "" : "not yet valid");
  }
  return finish();
}

}  // namespace keymgr
