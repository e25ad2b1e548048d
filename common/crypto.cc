#include "common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace keymgr {
namespace {
Bytes digest(const EVP_MD* md, std::string_view data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr);
  out.resize(len);
  return out;
}
}  // namespace

Bytes sha256(std::string_view data) { return digest(EVP_sha256(), data); }
Bytes sha384(std::string_view data) { return digest(EVP_sha384(), data); }

Result<Bytes> random_bytes(size_t n) {
  Bytes out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    return Unavailable("CSPRNG failure (RAND_bytes)", "rng_unavailable");
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace keymgr
