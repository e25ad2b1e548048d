// Signing rate limits (issue 15): token buckets per keyset (Policy::sign_rate / sign_burst) and per
// API token (RateLimitOptions), checked by TokenService::sign before the HSM is asked. A refusal
// is kResourceExhausted "rate_limited" (HTTP 429 with Retry-After), recorded in the ledger as
// refused like every other refusal.
//
// The buckets live in this process: with several instances each enforces its own share, so the
// cluster-wide ceiling is the limit times the number of instances (docs/deployment.md).
// Thread-safety: all methods may be called concurrently; one mutex, held for a map lookup.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace keymgr {

struct RateLimitOptions {
  int64_t token_sign_rate = 0;   // signatures per second per API token; 0: no limit
  int64_t token_sign_burst = 0;  // bucket size; 0: the rate
};

class RateLimiter {
 public:
  // Takes one signature from bucket `key`, which refills at `rate` per second up to `burst`
  // (burst 0: rate). rate 0: unlimited. Returns the milliseconds until one would be available
  // (0: granted). A clock that moves backwards refills nothing.
  int64_t take(std::string_view key, int64_t rate, int64_t burst, TimePoint now);

 private:
  struct Bucket {
    double tokens = 0;
    TimePoint last{};
    bool fresh = true;
  };
  std::mutex mu_;
  std::map<std::string, Bucket, std::less<>> buckets_;  // guarded by mu_
};

}  // namespace keymgr
