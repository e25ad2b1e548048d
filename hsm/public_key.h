// Public keys in the forms the outside world wants: JWK (RFC 7517/7518/8037), the RFC 7638
// thumbprint, and JWS signature verification (RFC 7515/7518) with OpenSSL.
//
// Everything here is pure computation on public data: thread-safe, no HSM involved.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>

#include "common/encoding.h"
#include "common/status.h"
#include "common/types.h"
#include "hsm/hsm.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace keymgr::hsm {

// The required public members only (EC: kty crv x y, fixed-length coordinates; RSA: kty n e,
// minimal big-endian; OKP: kty crv x). The caller adds kid/alg/use.
// Returns an empty object if `key.spki_der` is not a key of a supported type.
nlohmann::json public_jwk(const PublicKey& key);

// RFC 7638 thumbprint (SHA-256, base64url) over the required members of `jwk`.
// Returns "" if a required member is missing or not a string, or kty is unknown.
std::string jwk_thumbprint(const nlohmann::json& jwk);

// Strict import: kty/crv must be those of `alg`, coordinates/modulus of the exact length (EC
// 32/48 bytes, RSA 256/384 bytes without leading zero), EC points on the curve, no private
// members. kInvalidArgument/"invalid_jwk" otherwise.
Result<PublicKey> public_key_from_jwk(const nlohmann::json& jwk, Algorithm alg);

// Verifies a JWS signature as a relying party would. ECDSA takes raw r||s only (64/96 bytes; DER
// is rejected) with 0 < r, s < n; RSA PKCS#1 v1.5 or PSS (MGF1-SHA-256, salt 32); pure Ed25519.
// The key must fit `alg` (type, curve, RSA size). OK or kInvalidArgument/"bad_signature".
Status verify_jws_signature(const PublicKey& key, Algorithm alg, std::string_view signing_input, const Bytes& sig);

// The same check with the key parsed once, for a key that verifies many signatures: OpenSSL's
// decoding of a SubjectPublicKeyInfo costs more than an ECDSA verification. Immutable after
// create(); verify() may run on any number of threads at once.
class JwsVerifier {
 public:
  // kInvalidArgument/"bad_signature" if `key` is not a valid key that fits `alg` (as above).
  static Result<std::shared_ptr<const JwsVerifier>> create(const PublicKey& key, Algorithm alg);
  Status verify(std::string_view signing_input, const Bytes& sig) const;
  Algorithm alg() const { return alg_; }

 private:
  JwsVerifier(std::shared_ptr<evp_pkey_st> key, Algorithm alg) : key_(std::move(key)), alg_(alg) {}
  std::shared_ptr<evp_pkey_st> key_;  // EVP_PKEY, never modified after create()
  Algorithm alg_;
};

// Building blocks for key stores: SubjectPublicKeyInfo DER from raw public components.
// kInvalidArgument/"invalid_public_key" if the components do not form a valid key.
Result<Bytes> spki_from_ec_point(Algorithm alg, const Bytes& uncompressed_point);  // 04||X||Y
Result<Bytes> spki_from_rsa(const Bytes& modulus, const Bytes& public_exponent);
Result<Bytes> spki_from_ed25519(const Bytes& raw_public_key);  // 32 bytes

// Algorithm family helpers.
bool is_ecdsa(Algorithm alg);
bool is_rsa(Algorithm alg);
bool is_pss(Algorithm alg);
// ECDSA coordinate / RSA modulus / Ed25519 key length in bytes.
size_t key_size_bytes(Algorithm alg);
// Exact length of a JWS signature for `alg`.
size_t signature_size(Algorithm alg);

}  // namespace keymgr::hsm
