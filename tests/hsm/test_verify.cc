#include "tests/hsm/test_verify.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

namespace keymgr::testing {

::testing::AssertionResult OpensslVerifies(const Bytes& spki, Algorithm alg, std::string_view input,
                                           const Bytes& sig) {
  const unsigned char* p = spki.data();
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
  if (!key) return ::testing::AssertionFailure() << "SPKI does not parse";
  Bytes to_verify = sig;
  const EVP_MD* md = EVP_sha256();
  if (alg == Algorithm::kES256 || alg == Algorithm::kES384) {
    size_t L = alg == Algorithm::kES256 ? 32 : 48;
    if (alg == Algorithm::kES384) md = EVP_sha384();
    if (sig.size() != 2 * L) {
      EVP_PKEY_free(key);
      return ::testing::AssertionFailure() << "ECDSA signature is " << sig.size() << " bytes";
    }
    ECDSA_SIG* es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(sig.data(), static_cast<int>(L), nullptr),
                   BN_bin2bn(sig.data() + L, static_cast<int>(L), nullptr));
    unsigned char* der = nullptr;
    int n = i2d_ECDSA_SIG(es, &der);
    to_verify.assign(der, der + n);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
  } else if (alg == Algorithm::kEdDSA) {
    md = nullptr;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  int rc = EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, key);
  if (rc == 1 && (alg == Algorithm::kPS256 || alg == Algorithm::kPS256_3072)) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256());
  }
  if (rc == 1) {
    rc = EVP_DigestVerify(ctx, to_verify.data(), to_verify.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size());
  }
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (rc != 1) return ::testing::AssertionFailure() << algorithm_name(alg) << " signature rejected by OpenSSL";
  return ::testing::AssertionSuccess();
}

std::string jws_signing_input(Algorithm alg, const std::string& kid, const std::string& payload_json) {
  nlohmann::json header = {{"alg", jws_alg(alg)}, {"kid", kid}, {"typ", "JWT"}};
  return base64url_encode(header.dump()) + "." + base64url_encode(payload_json);
}

}  // namespace keymgr::testing
