// The HSM seam: everything keymgr asks of a key store, in a few calls. Knows nothing of keysets.
//
// Keys are named by `id` = hex of their CKA_ID (chosen by the caller, unique). Private keys never
// leave the implementation: there is no call that returns private material.
//
// Thread-safety: every method may be called from any number of threads at once.
// Errors: kUnavailable/"hsm_unavailable" when the token cannot be reached (fail closed);
// kNotFound/"key_not_found"; kAlreadyExists/"key_exists" (generate_key);
// kInvalidArgument/"invalid_key_id" (an id that is not 1..128 bytes of hex),
// "algorithm_unsupported" (generate_key), "algorithm_mismatch" (sign with another algorithm than
// the key's); others kInternal/"hsm_error" with the failing PKCS#11 call and CKR_ name in the
// message ("C_Login: CKR_PIN_INCORRECT"). tests/hsm/hsm_conformance_test.cc holds every
// implementation to this.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/encoding.h"
#include "common/status.h"
#include "common/types.h"

namespace keymgr::hsm {

struct PublicKey {
  Algorithm alg;
  Bytes spki_der;  // X.509 SubjectPublicKeyInfo, DER (OpenSSL d2i_PUBKEY reads it)
};

struct KeyInfo {
  std::string id;     // hex CKA_ID
  std::string label;  // CKA_LABEL
  PublicKey public_key;
};

class Hsm {
 public:
  virtual ~Hsm() = default;

  // Algorithms this module/token can generate and sign with (asked of the module, not assumed).
  virtual std::vector<Algorithm> supported_algorithms() const = 0;

  // Generates a non-extractable, sensitive, sign-only key pair inside the token.
  // A failure half-way destroys whatever was created. `id_hex` must be unique.
  virtual Result<KeyInfo> generate_key(Algorithm alg, std::string_view id_hex, std::string_view label) = 0;

  // Every private key in the token whose label starts with `label_prefix` ("" = all).
  virtual Result<std::vector<KeyInfo>> list_keys(std::string_view label_prefix) = 0;

  // The JWS signature over `signing_input` (ASCII "header.payload"): raw r||s for ECDSA,
  // PKCS#1 v1.5 or PSS for RSA, pure Ed25519 for EdDSA.
  virtual Result<Bytes> sign(std::string_view id_hex, Algorithm alg, std::string_view signing_input) = 0;

  // Destroys both halves of the key pair. NotFound if no such key.
  virtual Status destroy_key(std::string_view id_hex) = 0;

  // OK when the token is reachable and the session pool is logged in.
  virtual Status health() = 0;

  // Makes the calls that follow see every key other processes have generated or destroyed in the
  // token so far. Some modules keep a per-process object index that can lag behind other
  // processes' writes (SoftHSM2 2.6.1's file store, also behind p11-kit remoting); keymgr calls
  // this before it concludes that a key is gone. sign() and destroy_key() already do it by
  // themselves before they answer key_not_found. May pause other calls for a moment; never waits
  // behind a hung call (kUnavailable/"hsm_unavailable" instead).
  virtual Status refresh_view() = 0;
};

}  // namespace keymgr::hsm
