// Signing and verifying tokens for a keyset.
//
// sign(): the key is chosen and its window checked at the moment of signing; the token is
// returned only after its ledger record is durable; any failure of HSM, clock or ledger returns
// an error and no token (fail closed). Refusals are recorded too.
// verify(): reports every check (signature, alg, kid, scope, key active at iat, key state,
// provenance in the ledger, exp/nbf), not only the first failure.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/metrics.h"
#include "hsm/public_key.h"
#include "keymgr/key_service.h"
#include "keymgr/monitor.h"
#include "keymgr/rate_limiter.h"

namespace keymgr {

struct SignRequest {
  std::string keyset;
  nlohmann::json claims;              // the caller's claims (object)
  std::optional<int64_t> ttl_seconds; // requested lifetime; capped by policy and the key's window
  Actor actor;
};

struct SignedToken {
  std::string token;
  std::string kid;
  std::string alg;
  std::string jti;
  int64_t iat = 0, exp = 0;
  int64_t ledger_seq = 0;  // 0: durable, not sequenced yet (a backend that sequences off the signing path)
};

struct VerifyCheck {
  std::string name;  // format, alg, kid, signature, scope, key_active_at_iat, key_state, provenance, exp, nbf
  bool ok = false;
  std::string detail;
};

struct VerifyResult {
  bool valid = false;
  std::vector<VerifyCheck> checks;
  nlohmann::json header;
  nlohmann::json claims;
  std::string kid;
  std::optional<int64_t> ledger_seq;
  // The ledger entry's place in the transparency log (docs/ledger.md): leaf index = seq - 1, and
  // the size of the newest signed checkpoint when it covers the entry (nullopt: not yet covered,
  // a proof comes with the next checkpoint).
  std::optional<int64_t> leaf_index;
  std::optional<int64_t> checkpoint_size;
};

inline constexpr size_t kMaxClaimsBytes = 8 * 1024;
inline constexpr size_t kMaxTokenBytes = 16 * 1024;

class TokenService {
 public:
  // Signs with `hsm` and records in `store`: the same HSM and store `keys` was built on.
  TokenService(KeyService& keys, hsm::Hsm& hsm, db::Store& store, Metrics* metrics = nullptr);

  Result<SignedToken> sign(const SignRequest& req);
  // Verifies `token` as a token of keyset `keyset` (a key of another keyset fails the kid check).
  // With a monitor: a good signature on a token keymgr did not issue (whatever the key's state)
  // raises leak_suspected, and an unknown kid counts toward unknown_kid_probe; `presenter` and
  // `source` ("verify", "check") go into the evidence.
  Result<VerifyResult> verify(std::string_view keyset, std::string_view token, const Actor& presenter = {},
                              std::string_view source = "verify");
  // Detectors to feed (keymgr/monitor.h); null: none. Set before serving; not owned.
  void set_monitor(Monitor* monitor) { monitor_ = monitor; }
  // Per-API-token signing limits (per-keyset ones are in each keyset's policy). Set before serving.
  void set_rate_limits(const RateLimitOptions& limits) { limits_ = limits; }
  // Records a refusal that happened before sign() could run (e.g. an issuer not bound to the keyset).
  void record_refusal(std::string_view keyset, const Actor& actor, std::string_view reason);

 private:
  // One attempt; sign() retries once after switching keys when the key made its max_signatures.
  // `exhausted` (may be null) receives the kid when the store refused it for its usage limit.
  Result<SignedToken> sign_once(const SignRequest& req, std::string* exhausted);
  void refuse(const SignRequest& req, const std::string& kid, const Status& why, const nlohmann::json& claims);
  void count(std::string_view keyset, std::string_view alg, std::string_view outcome);
  // The key's public key parsed once for verify() (strict JWK import, then OpenSSL's key object):
  // parsing cost twice the ECDSA verification itself. Cached by kid; a hit is used only if its JWK
  // is the key's JWK. Bounded: emptied when it holds kMaxVerifiers keys.
  Result<std::shared_ptr<const hsm::JwsVerifier>> verifier_for(const Key& key);
  static constexpr size_t kMaxVerifiers = 4096;

  KeyService& keys_;
  hsm::Hsm& hsm_;
  db::Store& store_;
  Metrics* metrics_;
  Monitor* monitor_ = nullptr;
  RateLimitOptions limits_;
  RateLimiter limiter_;
  struct CachedVerifier {
    nlohmann::json jwk;
    std::shared_ptr<const hsm::JwsVerifier> verifier;
  };
  std::shared_mutex verifiers_mu_;
  std::unordered_map<std::string, CachedVerifier> verifiers_;  // by kid; guarded by verifiers_mu_
};

// Checks the caller's claims: an object, bounded, no reserved claim keymgr sets itself, `iss` (if
// present) equal to `issuer`, `sub` a string, `aud` a string or array of strings.
Status validate_claims(const nlohmann::json& claims, const std::string& issuer);

}  // namespace keymgr
