// JWK export/import, RFC 7638 thumbprints and JWS verification, against OpenSSL-made keys.
#include "hsm/public_key.h"

#include <gtest/gtest.h>
#include <atomic>
#include <thread>
#include <vector>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tests/hsm/test_verify.h"

namespace keymgr::hsm {
namespace {

using keymgr::testing::OpensslVerifies;

Bytes spki_of(EVP_PKEY* k) {
  unsigned char* out = nullptr;
  int n = i2d_PUBKEY(k, &out);
  Bytes b(out, out + n);
  OPENSSL_free(out);
  return b;
}

TEST(JwkThumbprint, Rfc7638Example) {
  // RFC 7638 §3.1 (the RFC 7517 Appendix A.1 RSA key).
  nlohmann::json jwk = {
      {"kty", "RSA"},
      {"n",
       "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
       "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5h"
       "ajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"},
      {"e", "AQAB"},
      {"alg", "RS256"},
      {"kid", "2011-04-29"}};
  EXPECT_EQ(jwk_thumbprint(jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  // Optional members do not change it; a missing required one yields "".
  jwk.erase("kid");
  EXPECT_EQ(jwk_thumbprint(jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  jwk.erase("e");
  EXPECT_EQ(jwk_thumbprint(jwk), "");
  EXPECT_EQ(jwk_thumbprint(nlohmann::json{{"kty", "oct"}, {"k", "AAAA"}}), "");
}

EVP_PKEY* keygen(Algorithm alg) {
  switch (alg) {
    case Algorithm::kES256: return EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    case Algorithm::kES384: return EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
    case Algorithm::kEdDSA: return EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    default: return EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(key_size_bytes(alg) * 8));
  }
}

TEST(PublicJwk, RoundTripsForEveryAlgorithmFamily) {
  for (Algorithm alg : {Algorithm::kES256, Algorithm::kES384, Algorithm::kRS256, Algorithm::kEdDSA}) {
    SCOPED_TRACE(algorithm_name(alg));
    EVP_PKEY* k = keygen(alg);
    ASSERT_NE(k, nullptr);
    PublicKey pk{alg, spki_of(k)};
    EVP_PKEY_free(k);
    nlohmann::json jwk = public_jwk(pk);
    if (is_ecdsa(alg)) {
      EXPECT_EQ(jwk["kty"], "EC");
      EXPECT_EQ(jwk["crv"], alg == Algorithm::kES256 ? "P-256" : "P-384");
      EXPECT_EQ(base64url_decode(jwk["x"].get<std::string>())->size(), key_size_bytes(alg));
      EXPECT_EQ(base64url_decode(jwk["y"].get<std::string>())->size(), key_size_bytes(alg));
      EXPECT_EQ(jwk.size(), 4u);
    } else if (is_rsa(alg)) {
      EXPECT_EQ(jwk["kty"], "RSA");
      EXPECT_EQ(jwk["e"], "AQAB");
      auto n = base64url_decode(jwk["n"].get<std::string>());
      ASSERT_TRUE(n);
      EXPECT_EQ(n->size(), 256u);
      EXPECT_NE((*n)[0], 0);
      EXPECT_EQ(jwk.size(), 3u);
    } else {
      EXPECT_EQ(jwk, (nlohmann::json{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", jwk["x"]}}));
    }
    auto back = public_key_from_jwk(jwk, alg);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back->spki_der, pk.spki_der);
    EXPECT_EQ(jwk_thumbprint(public_jwk(*back)), jwk_thumbprint(jwk));
    EXPECT_EQ(jwk_thumbprint(jwk).size(), 43u);
  }
}

TEST(PublicJwk, EcCoordinatesAreLeftPadded) {
  // Find a P-256 key whose x starts with a zero byte (1/256 chance each): must still be 32 bytes.
  for (int i = 0; i < 4000; ++i) {
    EVP_PKEY* k = keygen(Algorithm::kES256);
    PublicKey pk{Algorithm::kES256, spki_of(k)};
    EVP_PKEY_free(k);
    auto jwk = public_jwk(pk);
    auto x = base64url_decode(jwk["x"].get<std::string>());
    auto y = base64url_decode(jwk["y"].get<std::string>());
    ASSERT_EQ(x->size(), 32u);
    ASSERT_EQ(y->size(), 32u);
    if ((*x)[0] == 0 || (*y)[0] == 0) return;
  }
  GTEST_SKIP() << "no leading-zero coordinate found";
}

TEST(PublicKeyFromJwk, IsStrict) {
  EVP_PKEY* k = keygen(Algorithm::kES256);
  PublicKey pk{Algorithm::kES256, spki_of(k)};
  EVP_PKEY_free(k);
  const nlohmann::json good = public_jwk(pk);
  auto reason = [](const Result<PublicKey>& r) { return std::string(r.status().reason()); };
  EXPECT_TRUE(public_key_from_jwk(good, Algorithm::kES256).ok());
  EXPECT_EQ(reason(public_key_from_jwk(good, Algorithm::kES384)), "invalid_jwk");  // wrong crv
  EXPECT_EQ(reason(public_key_from_jwk(good, Algorithm::kRS256)), "invalid_jwk");  // wrong kty
  EXPECT_EQ(reason(public_key_from_jwk(good, Algorithm::kEdDSA)), "invalid_jwk");
  auto bad = good;
  bad["d"] = good["x"];
  EXPECT_EQ(reason(public_key_from_jwk(bad, Algorithm::kES256)), "invalid_jwk");  // private member
  bad = good;
  bad["x"] = base64url_encode(Bytes(31, 1));
  EXPECT_EQ(reason(public_key_from_jwk(bad, Algorithm::kES256)), "invalid_jwk");  // short coordinate
  bad = good;
  Bytes y = *base64url_decode(good["y"].get<std::string>());
  y[31] ^= 1;
  bad["y"] = base64url_encode(y);
  EXPECT_EQ(reason(public_key_from_jwk(bad, Algorithm::kES256)), "invalid_jwk");  // off the curve
  bad = good;
  bad["x"] = good["x"].get<std::string>() + "=";
  EXPECT_EQ(reason(public_key_from_jwk(bad, Algorithm::kES256)), "invalid_jwk");  // padding
  EXPECT_EQ(reason(public_key_from_jwk(nlohmann::json::array(), Algorithm::kES256)), "invalid_jwk");

  EVP_PKEY* r = keygen(Algorithm::kRS256);
  PublicKey rpk{Algorithm::kRS256, spki_of(r)};
  EVP_PKEY_free(r);
  auto rj = public_jwk(rpk);
  EXPECT_TRUE(public_key_from_jwk(rj, Algorithm::kPS256).ok());
  EXPECT_EQ(reason(public_key_from_jwk(rj, Algorithm::kRS256_3072)), "invalid_jwk");  // 2048 != 3072
  auto rb = rj;
  Bytes n = *base64url_decode(rj["n"].get<std::string>());
  n.insert(n.begin(), 0);
  rb["n"] = base64url_encode(n);
  EXPECT_EQ(reason(public_key_from_jwk(rb, Algorithm::kRS256)), "invalid_jwk");  // leading zero
}

// ES256 signature of `input` by `k` as OpenSSL makes it (DER ECDSA-Sig-Value).
Bytes es256_der_signature(EVP_PKEY* k, const std::string& input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, k), 1);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  Bytes der(len);
  EXPECT_EQ(EVP_DigestSign(ctx, der.data(), &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()), 1);
  der.resize(len);
  EVP_MD_CTX_free(ctx);
  return der;
}

// DER ECDSA-Sig-Value -> raw r||s (P-256), the JWS form.
Bytes der_to_raw(const Bytes& der) {
  const unsigned char* p = der.data();
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  Bytes raw(64);
  BN_bn2binpad(ECDSA_SIG_get0_r(es), raw.data(), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), raw.data() + 32, 32);
  ECDSA_SIG_free(es);
  return raw;
}

TEST(VerifyJwsSignature, AcceptsGoodAndRejectsMalformedEcdsa) {
  EVP_PKEY* k = keygen(Algorithm::kES256);
  PublicKey pk{Algorithm::kES256, spki_of(k)};
  const std::string input = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0";
  const Bytes der = es256_der_signature(k, input);  // OpenSSL's form; JWS wants raw r||s
  EVP_PKEY_free(k);
  const Bytes raw = der_to_raw(der);

  EXPECT_TRUE(verify_jws_signature(pk, Algorithm::kES256, input, raw).ok());
  EXPECT_TRUE(OpensslVerifies(pk.spki_der, Algorithm::kES256, input, raw));
  auto reason = [](const Status& s) { return std::string(s.reason()); };
  EXPECT_EQ(reason(verify_jws_signature(pk, Algorithm::kES256, input + "x", raw)), "bad_signature");
  EXPECT_EQ(reason(verify_jws_signature(pk, Algorithm::kES256, input, der)), "bad_signature");  // DER form
  EXPECT_EQ(reason(verify_jws_signature(pk, Algorithm::kES384, input, raw)), "bad_signature");  // wrong curve
  Bytes zero = raw;
  std::fill(zero.begin(), zero.begin() + 32, 0);
  EXPECT_EQ(reason(verify_jws_signature(pk, Algorithm::kES256, input, zero)), "bad_signature");  // r == 0
  Bytes big = raw;
  std::fill(big.begin() + 32, big.end(), 0xff);
  EXPECT_EQ(reason(verify_jws_signature(pk, Algorithm::kES256, input, big)), "bad_signature");  // s >= n
  EXPECT_EQ(reason(verify_jws_signature(PublicKey{Algorithm::kES256, Bytes{1, 2, 3}}, Algorithm::kES256, input, raw)),
            "bad_signature");
}

// One parsed key verifies on many threads at once (TokenService shares one per kid), with the
// same answers as verify_jws_signature: good signatures pass, altered ones fail.
TEST(JwsVerifier, OneKeyVerifiesOnManyThreadsWithTheSameAnswers) {
  EVP_PKEY* k = keygen(Algorithm::kES256);
  PublicKey pk{Algorithm::kES256, spki_of(k)};
  std::vector<std::string> inputs;
  std::vector<Bytes> sigs;
  for (int i = 0; i < 8; ++i) {
    inputs.push_back("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ" + std::to_string(i) + "In0");
    sigs.push_back(der_to_raw(es256_der_signature(k, inputs.back())));
  }
  EVP_PKEY_free(k);
  auto v = JwsVerifier::create(pk, Algorithm::kES256);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ((*v)->alg(), Algorithm::kES256);
  std::atomic<int> good{0}, refused{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 200; ++n) {
        const size_t i = static_cast<size_t>((t + n) % 8);
        if ((*v)->verify(inputs[i], sigs[i]).ok()) ++good; else ++wrong;
        // Another input's signature must not verify.
        if ((*v)->verify(inputs[i], sigs[(i + 1) % 8]).ok()) ++wrong; else ++refused;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 1600);
  EXPECT_EQ(refused.load(), 1600);
  EXPECT_EQ(wrong.load(), 0);
}

TEST(JwsVerifier, RefusesAKeyThatDoesNotFitTheAlgorithm) {
  EVP_PKEY* k = keygen(Algorithm::kES256);
  PublicKey pk{Algorithm::kES256, spki_of(k)};
  EVP_PKEY_free(k);
  EXPECT_EQ(std::string(JwsVerifier::create(pk, Algorithm::kES384).status().reason()), "bad_signature");
  EXPECT_EQ(std::string(JwsVerifier::create(pk, Algorithm::kEdDSA).status().reason()), "bad_signature");
  EXPECT_EQ(std::string(JwsVerifier::create(PublicKey{Algorithm::kES256, Bytes{0x30, 0x00}}, Algorithm::kES256)
                            .status()
                            .reason()),
            "bad_signature");
}

}  // namespace
}  // namespace keymgr::hsm
