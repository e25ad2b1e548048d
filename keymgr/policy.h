// A keyset's rotation policy and the rule that keeps tokens verifiable for their whole life.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace keymgr {

// The shortest rotation_lead a policy may ask for: a successor's generation must survive a slow
// tick (thousands of keysets due together) and a few HSM retries before its pre-publication
// would be cut short.
inline constexpr std::chrono::seconds kMinRotationLead{30};

struct Policy {
  // How long a new key is in the JWKS before it may sign. Must cover verifier_cache + clock_skew,
  // so every verifier has the key before the first token it signs appears.
  std::chrono::seconds prepublish{std::chrono::hours(24)};
  // How long a key signs.
  std::chrono::seconds sign_period{std::chrono::hours(24 * 30)};
  // How long a key stays published after it stops signing.
  std::chrono::seconds verify_grace{std::chrono::hours(24)};
  // Longest token lifetime a caller may ask for.
  std::chrono::seconds max_token_ttl{std::chrono::hours(1)};
  // How long after retirement (or compromise) the HSM object is destroyed.
  std::chrono::seconds destroy_after{std::chrono::hours(24 * 7)};
  // The longest a verifier may keep a JWKS it fetched (assumed worst case: clients refreshing
  // every 12 h, whatever Cache-Control says).
  std::chrono::seconds verifier_cache{std::chrono::hours(12)};
  // Cache-Control max-age sent with the JWKS: short, so a compromised key drops out quickly for
  // clients that honour it.
  std::chrono::seconds jwks_max_age{std::chrono::minutes(5)};
  // Tolerated clock difference between keymgr and verifiers.
  std::chrono::seconds clock_skew{std::chrono::minutes(5)};
  // How long before the successor must be published the scheduler starts generating it
  // (time to retry when the HSM refuses). The scheduler wakes at that moment whatever its
  // interval, so this only has to cover HSM latency and retries: at least kMinRotationLead.
  std::chrono::seconds rotation_lead{std::chrono::hours(24)};
  // Signing rate limit of the keyset (keymgr/rate_limiter.h): signatures per second, 0 = none,
  // and the burst allowed above it (0 = one second's worth). Beyond it: 429 rate_limited.
  int64_t sign_rate = 0;
  int64_t sign_burst = 0;
  // Key usage limit (as SignServer's): at most this many signatures per key, 0 = none. Exact
  // across instances (the store counts and refuses in the signature's own transaction). The
  // scheduler pre-publishes the successor before the limit is near (usage_rotation_due), and the
  // signature that would exceed it switches to that successor instead of failing.
  int64_t max_signatures = 0;

  bool operator==(const Policy&) const = default;
};

// Checks every bound; the message names the numbers that conflict.
Status validate_policy(const Policy& p);

nlohmann::json policy_to_json(const Policy& p);
// Reads the fields present in `j` over `base` (partial updates), rejecting unknown fields and
// non-integer / negative values. Durations are seconds, or strings like "30d", "12h", "5m", "10s".
Result<Policy> policy_from_json(const nlohmann::json& j, const Policy& base = Policy{});

// "30d", "12h", "90m", "45s", "3600" → seconds.
Result<std::chrono::seconds> parse_duration(const std::string& text);
std::string format_duration(std::chrono::seconds s);

}  // namespace keymgr
