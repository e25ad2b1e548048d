// Vocabulary shared by every module: JWS signing algorithms and key lifecycle states.
// (The rules about states live in keymgr/key_state.h; this file only names them.)
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace keymgr {

// A signing algorithm together with its key parameters.
enum class Algorithm {
  kES256,      // ECDSA P-256 + SHA-256
  kES384,      // ECDSA P-384 + SHA-384
  kRS256,      // RSASSA-PKCS1-v1_5 + SHA-256, RSA 2048
  kRS256_3072, // same, RSA 3072
  kPS256,      // RSASSA-PSS + SHA-256, MGF1-SHA-256, salt 32, RSA 2048
  kPS256_3072, // same, RSA 3072
  kEdDSA,      // Ed25519 (pure)
};

// The JWS "alg" value (RS256 for both RSA sizes).
std::string_view jws_alg(Algorithm a);
// Canonical configuration name: "ES256", "RS256", "RS256-3072", "PS256-3072", "EdDSA", ...
std::string_view algorithm_name(Algorithm a);
std::optional<Algorithm> parse_algorithm(std::string_view name);
inline constexpr Algorithm kAllAlgorithms[] = {Algorithm::kES256,      Algorithm::kES384, Algorithm::kRS256,
                                               Algorithm::kRS256_3072, Algorithm::kPS256, Algorithm::kPS256_3072,
                                               Algorithm::kEdDSA};

// NIST SP 800-57 inspired key states.
enum class KeyState {
  kPreActivation,  // published, not yet signing
  kActive,         // signing (within its window)
  kSuspended,      // paused by ops; published, not signing; resumable
  kDeactivated,    // published for verification only
  kRetired,        // unpublished
  kCompromised,    // unpublished at once, never signs again
  kDestroyed,      // HSM object deleted; metadata kept
};

std::string_view key_state_name(KeyState s);  // "pre-activation", "active", ...
std::optional<KeyState> parse_key_state(std::string_view name);

}  // namespace keymgr
