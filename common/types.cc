#include "common/types.h"

namespace keymgr {

std::string_view jws_alg(Algorithm a) {
  switch (a) {
    case Algorithm::kES256: return "ES256";
    case Algorithm::kES384: return "ES384";
    case Algorithm::kRS256:
    case Algorithm::kRS256_3072: return "RS256";
    case Algorithm::kPS256:
    case Algorithm::kPS256_3072: return "PS256";
    case Algorithm::kEdDSA: return "EdDSA";
  }
  return "";
}

std::string_view algorithm_name(Algorithm a) {
  switch (a) {
    case Algorithm::kES256: return "ES256";
    case Algorithm::kES384: return "ES384";
    case Algorithm::kRS256: return "RS256";
    case Algorithm::kRS256_3072: return "RS256-3072";
    case Algorithm::kPS256: return "PS256";
    case Algorithm::kPS256_3072: return "PS256-3072";
    case Algorithm::kEdDSA: return "EdDSA";
  }
  return "";
}

std::optional<Algorithm> parse_algorithm(std::string_view name) {
  for (Algorithm a : kAllAlgorithms) {
    if (algorithm_name(a) == name) return a;
  }
  if (name == "RS256-2048") return Algorithm::kRS256;
  if (name == "PS256-2048") return Algorithm::kPS256;
  return std::nullopt;
}

std::string_view key_state_name(KeyState s) {
  switch (s) {
    case KeyState::kPreActivation: return "pre-activation";
    case KeyState::kActive: return "active";
    case KeyState::kSuspended: return "suspended";
    case KeyState::kDeactivated: return "deactivated";
    case KeyState::kRetired: return "retired";
    case KeyState::kCompromised: return "compromised";
    case KeyState::kDestroyed: return "destroyed";
  }
  return "";
}

std::optional<KeyState> parse_key_state(std::string_view name) {
  for (KeyState s : {KeyState::kPreActivation, KeyState::kActive, KeyState::kSuspended, KeyState::kDeactivated,
                     KeyState::kRetired, KeyState::kCompromised, KeyState::kDestroyed}) {
    if (key_state_name(s) == name) return s;
  }
  return std::nullopt;
}

}  // namespace keymgr
