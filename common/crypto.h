// Host-side cryptographic helpers (OpenSSL): hashing, HMAC, randomness, constant-time comparison.
// No private key ever passes through here: signing happens in the HSM.
#pragma once

#include <string>
#include <string_view>

#include "common/encoding.h"
#include "common/status.h"

namespace keymgr {

Bytes sha256(std::string_view data);
Bytes sha384(std::string_view data);
inline Bytes sha256(const Bytes& b) {
  return sha256(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

// HMAC-SHA256 (RFC 2104) of `data` under `key`: webhook signatures (X-Keymgr-Signature).
Bytes hmac_sha256(std::string_view key, std::string_view data);

// Cryptographically secure random bytes. Fails (never returns weak bytes) if the CSPRNG fails.
Result<Bytes> random_bytes(size_t n);

// Constant-time equality (length difference returns false without leaking content timing).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace keymgr
