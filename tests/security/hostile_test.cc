// Hostile tokens against TokenService::verify (the code behind POST /v1/keysets/{name}/verify).
// Each forged token must be valid:false, and the check that catches it must be the one named.
// The keymgr keys live in a FakeHsm (same formats as PKCS#11); forgeries that need a genuine
// keymgr signature are signed through the Hsm seam (valid signature, but never in the ledger).
// A final case runs a few of them over HTTP against the real server on SoftHSM2.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <memory>
#include <string>

#include "common/encoding.h"
#include "hsm/public_key.h"
#include "tests/keymgr/env.h"

namespace keymgr::testing {
namespace {
using nlohmann::json;

// P-256 group order n.
constexpr const char* kP256Order = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// An attacker's P-256 key: valid-looking, never seen by keymgr.
Pkey attacker_key() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

// ES256 over `input` with `key`, DER-encoded as OpenSSL produces it.
Bytes es256_der(EVP_PKEY* key, const std::string& input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()), 1);
  Bytes sig(len);
  EXPECT_EQ(EVP_DigestSign(ctx.get(), sig.data(), &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()), 1);
  sig.resize(len);
  return sig;
}

Bytes der_to_raw(const Bytes& der) {
  const unsigned char* p = der.data();
  ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  EXPECT_NE(s, nullptr);
  Bytes raw(64);
  BN_bn2binpad(ECDSA_SIG_get0_r(s), raw.data(), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(s), raw.data() + 32, 32);
  ECDSA_SIG_free(s);
  return raw;
}

Bytes raw_to_der(const Bytes& raw) {
  ECDSA_SIG* s = ECDSA_SIG_new();
  ECDSA_SIG_set0(s, BN_bin2bn(raw.data(), 32, nullptr), BN_bin2bn(raw.data() + 32, 32, nullptr));
  unsigned char* out = nullptr;
  int len = i2d_ECDSA_SIG(s, &out);
  Bytes der(out, out + len);
  OPENSSL_free(out);
  ECDSA_SIG_free(s);
  return der;
}

json attacker_jwk(EVP_PKEY* key) {
  BIGNUM *x = nullptr, *y = nullptr;
  EVP_PKEY_get_bn_param(key, "qx", &x);
  EVP_PKEY_get_bn_param(key, "qy", &y);
  Bytes xb(32), yb(32);
  BN_bn2binpad(x, xb.data(), 32);
  BN_bn2binpad(y, yb.data(), 32);
  BN_free(x);
  BN_free(y);
  return {{"kty", "EC"}, {"crv", "P-256"}, {"x", base64url_encode(xb)}, {"y", base64url_encode(yb)}};
}

std::string pem_of_spki(const Bytes& spki) {
  std::string b64(4 * ((spki.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), spki.data(), static_cast<int>(spki.size()));
  b64.resize(static_cast<size_t>(n));
  std::string pem = "-----BEGIN PUBLIC KEY-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) pem += b64.substr(i, 64) + "\n";
  return pem + "-----END PUBLIC KEY-----\n";
}

Bytes hmac_sha256(const std::string& secret, const std::string& input) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), out, &len);
  return Bytes(out, out + len);
}

class HostileTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ks_ = env_.create("a");
    ASSERT_NE(ks_, nullptr);
    key_ = ks_->active_key();
    ASSERT_NE(key_, nullptr);
    kid_ = key_->kid;
    now_ = to_unix_seconds(env_.clock.now());
  }

  json header() const { return {{"alg", "ES256"}, {"kid", kid_}, {"typ", "JWT"}}; }
  json claims() const {
    return {{"iss", ks_->issuer}, {"sub", "mallory"}, {"iat", now_}, {"nbf", now_}, {"exp", now_ + 300},
            {"jti", "forged"}};
  }
  static std::string input_of(const json& h, const json& c) {
    return base64url_encode(h.dump()) + "." + base64url_encode(c.dump());
  }
  // Signed by keyset a's own key in the HSM: the signature is genuine, the token is not issued.
  std::string hsm_signed(const json& h, const json& c) {
    const std::string in = input_of(h, c);
    auto sig = env_.hsm->sign(key_->hsm_id, key_->alg, in);
    EXPECT_TRUE(sig.ok()) << sig.status().to_string();
    return in + "." + (sig.ok() ? base64url_encode(*sig) : "");
  }

  VerifyResult verify(const std::string& token, const std::string& keyset = "a") {
    auto r = env_.tokens->verify(keyset, token);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : VerifyResult{};
  }
  static const VerifyCheck* check(const VerifyResult& r, const std::string& name) {
    for (const auto& c : r.checks) {
      if (c.name == name) return &c;
    }
    return nullptr;
  }
  static std::string dump(const VerifyResult& r) {
    std::string s;
    for (const auto& c : r.checks) s += c.name + "=" + (c.ok ? "ok" : "FAIL(" + c.detail + ")") + " ";
    return s;
  }
  // valid:false, and `failing` is among the failed checks; `passing` checks must be ok (so the
  // right check caught it, not a side effect).
  void expect_rejected_by(const std::string& token, const std::string& failing,
                          std::initializer_list<const char*> passing = {}, const std::string& keyset = "a") {
    VerifyResult r = verify(token, keyset);
    EXPECT_FALSE(r.valid) << dump(r);
    const VerifyCheck* c = check(r, failing);
    ASSERT_NE(c, nullptr) << "no check '" << failing << "': " << dump(r);
    EXPECT_FALSE(c->ok) << dump(r);
    for (const char* p : passing) {
      const VerifyCheck* pc = check(r, p);
      ASSERT_NE(pc, nullptr) << "no check '" << p << "': " << dump(r);
      EXPECT_TRUE(pc->ok) << p << " should pass: " << dump(r);
    }
    ++cases_;
  }

  Env env_{Backend::kFake};
  KeysetPtr ks_;
  const Key* key_ = nullptr;
  std::string kid_;
  int64_t now_ = 0;
  int cases_ = 0;
};

TEST_F(HostileTokenTest, GenuineTokenIsValid) {
  // The harness itself: an issued token passes every check (so the rejections below mean something).
  auto t = env_.sign("a");
  ASSERT_TRUE(t.ok());
  VerifyResult r = verify(t->token);
  EXPECT_TRUE(r.valid) << dump(r);
  // A token with a genuine HSM signature that keymgr did not issue fails only provenance.
  expect_rejected_by(hsm_signed(header(), claims()), "provenance",
                     {"format", "header", "kid", "alg", "signature", "scope", "key_active_at_iat", "key_state", "exp"});
}

TEST_F(HostileTokenTest, AlgNone) {
  json h = header();
  h["alg"] = "none";
  expect_rejected_by(input_of(h, claims()) + ".", "alg");
  expect_rejected_by(input_of(h, claims()) + ".", "signature");
  h["alg"] = "None";
  expect_rejected_by(input_of(h, claims()) + ".", "alg");
  h.erase("alg");
  expect_rejected_by(input_of(h, claims()) + ".", "alg");
}

TEST_F(HostileTokenTest, HmacWithThePublicKeyAsSecret) {
  auto pk = hsm::public_key_from_jwk(key_->jwk, key_->alg);
  ASSERT_TRUE(pk.ok());
  for (const std::string& secret : {key_->jwk_text, key_->jwk.dump(), pem_of_spki(pk->spki_der),
                                    to_string(pk->spki_der)}) {
    for (const char* alg : {"HS256", "HS384", "HS512"}) {
      json h = header();
      h["alg"] = alg;
      const std::string in = input_of(h, claims());
      expect_rejected_by(in + "." + base64url_encode(hmac_sha256(secret, in)), "alg");
      expect_rejected_by(in + "." + base64url_encode(hmac_sha256(secret, in)), "signature");
    }
  }
}

TEST_F(HostileTokenTest, EmbeddedJwkJkuX5u) {
  Pkey evil = attacker_key();
  ASSERT_TRUE(evil);
  // jwk: the attacker's own key, embedded, and the token signed with it.
  json h = header();
  h["jwk"] = attacker_jwk(evil.get());
  std::string in = input_of(h, claims());
  expect_rejected_by(in + "." + base64url_encode(der_to_raw(es256_der(evil.get(), in))), "header");
  expect_rejected_by(in + "." + base64url_encode(der_to_raw(es256_der(evil.get(), in))), "signature");
  // The same headers on a token with a genuine keymgr signature: the header check alone refuses.
  for (const auto& [member, value] : std::vector<std::pair<std::string, json>>{
           {"jwk", attacker_jwk(evil.get())},
           {"jku", "https://evil.example/jwks.json"},
           {"x5u", "https://evil.example/cert.pem"},
           {"x5c", json::array({"MIIB"})},
           {"x5t", "abc"},
           {"x5t#S256", "abc"}}) {
    json hh = header();
    hh[member] = value;
    expect_rejected_by(hsm_signed(hh, claims()), "header", {"signature", "kid", "alg"});
  }
}

TEST_F(HostileTokenTest, UnknownCrit) {
  json h = header();
  h["crit"] = json::array({"urn:evil:ext"});
  h["urn:evil:ext"] = true;
  expect_rejected_by(hsm_signed(h, claims()), "header", {"signature"});
  h["crit"] = json::array({"exp"});
  expect_rejected_by(hsm_signed(h, claims()), "header", {"signature"});
  h["crit"] = json::array();
  expect_rejected_by(hsm_signed(h, claims()), "header", {"signature"});
}

TEST_F(HostileTokenTest, EcdsaSignatureEncodings) {
  // A genuine keymgr signature, re-encoded as DER: same r and s, still refused.
  const std::string in = input_of(header(), claims());
  auto raw = env_.hsm->sign(key_->hsm_id, key_->alg, in);
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw->size(), 64u);
  expect_rejected_by(in + "." + base64url_encode(raw_to_der(*raw)), "signature", {"alg", "kid"});
  // r = s = 0.
  expect_rejected_by(in + "." + base64url_encode(Bytes(64, 0)), "signature", {"alg", "kid"});
  // r = s = n (the curve order), and n+1 style out-of-range values.
  auto n = hex_decode(kP256Order);
  ASSERT_TRUE(n);
  Bytes nn = *n;
  nn.insert(nn.end(), n->begin(), n->end());
  expect_rejected_by(in + "." + base64url_encode(nn), "signature", {"alg", "kid"});
  Bytes ff(64, 0xff);
  expect_rejected_by(in + "." + base64url_encode(ff), "signature");
  // r = 0 with a genuine s, and genuine r with s = 0.
  Bytes r0 = *raw;
  std::fill(r0.begin(), r0.begin() + 32, 0);
  expect_rejected_by(in + "." + base64url_encode(r0), "signature");
  Bytes s0 = *raw;
  std::fill(s0.begin() + 32, s0.end(), 0);
  expect_rejected_by(in + "." + base64url_encode(s0), "signature");
  // Truncated / padded signatures.
  expect_rejected_by(in + "." + base64url_encode(Bytes(raw->begin(), raw->begin() + 63)), "signature");
  Bytes longer = *raw;
  longer.push_back(0);
  expect_rejected_by(in + "." + base64url_encode(longer), "signature");
  // High-s (n - s): a valid ECDSA signature that the verifier accepts is not forbidden by JWS, but
  // the token is still not keymgr's (not in the ledger).
  // Sanity: the genuine raw signature passes the signature check.
  VerifyResult ok = verify(in + "." + base64url_encode(*raw));
  ASSERT_NE(check(ok, "signature"), nullptr);
  EXPECT_TRUE(check(ok, "signature")->ok) << dump(ok);
}

TEST_F(HostileTokenTest, KidOfAnotherKeyset) {
  KeysetPtr b = env_.create("b");
  ASSERT_NE(b, nullptr);
  auto t = env_.sign("b");
  ASSERT_TRUE(t.ok());
  expect_rejected_by(t->token, "kid");
  VerifyResult r = verify(t->token);
  EXPECT_NE(check(r, "kid")->detail.find("another keyset"), std::string::npos) << dump(r);
  // And b's token with a's issuer claim does not help either: it is not a's key.
  json c = claims();
  const std::string in = input_of(json{{"alg", "ES256"}, {"kid", b->active_key()->kid}}, c);
  auto sig = env_.hsm->sign(b->active_key()->hsm_id, b->alg, in);
  ASSERT_TRUE(sig.ok());
  expect_rejected_by(in + "." + base64url_encode(*sig), "kid");
  // Unknown kid and missing kid.
  json h = header();
  h["kid"] = "not-a-kid";
  expect_rejected_by(hsm_signed(h, claims()), "kid");
  h.erase("kid");
  expect_rejected_by(hsm_signed(h, claims()), "kid");
  h["kid"] = 42;
  expect_rejected_by(hsm_signed(h, claims()), "kid");
}

TEST_F(HostileTokenTest, ValidLookingKeyKeymgrNeverUsed) {
  Pkey evil = attacker_key();
  ASSERT_TRUE(evil);
  const std::string in = input_of(header(), claims());
  const std::string token = in + "." + base64url_encode(der_to_raw(es256_der(evil.get(), in)));
  expect_rejected_by(token, "signature", {"kid", "alg", "header"});
  expect_rejected_by(token, "provenance");
}

TEST_F(HostileTokenTest, IatBeforeTheKeysActivation) {
  const int64_t activate = to_unix_seconds(key_->activate_at);
  json c = claims();
  c["iat"] = activate - 3600;
  c["nbf"] = activate - 3600;
  expect_rejected_by(hsm_signed(header(), c), "key_active_at_iat", {"signature", "kid", "alg", "exp", "nbf"});
  c["iat"] = to_unix_seconds(key_->deactivate_at);  // at the end of the window: no longer signing
  expect_rejected_by(hsm_signed(header(), c), "key_active_at_iat", {"signature"});
  c.erase("iat");
  expect_rejected_by(hsm_signed(header(), c), "key_active_at_iat", {"signature"});
  c["iat"] = "1767225600";
  expect_rejected_by(hsm_signed(header(), c), "key_active_at_iat", {"signature"});
}

TEST_F(HostileTokenTest, ExpiredAndNotYetValid) {
  auto t = env_.sign("a", {{"sub", "alice"}}, 60);
  ASSERT_TRUE(t.ok());
  // Within the clock skew it still verifies; past exp + skew it does not.
  env_.clock.advance(std::chrono::seconds(61));
  EXPECT_TRUE(verify(t->token).valid);
  env_.clock.advance(ks_->policy.clock_skew);
  expect_rejected_by(t->token, "exp", {"signature", "provenance", "kid", "key_active_at_iat"});
  EXPECT_EQ(check(verify(t->token), "exp")->detail, "expired");
  // Not yet valid: nbf beyond now + skew (genuine signature).
  now_ = to_unix_seconds(env_.clock.now());
  json c = claims();
  c["nbf"] = now_ + ks_->policy.clock_skew.count() + 60;
  expect_rejected_by(hsm_signed(header(), c), "nbf", {"signature", "exp"});
  c["nbf"] = "soon";
  expect_rejected_by(hsm_signed(header(), c), "nbf", {"signature"});
  // No exp at all, or a non-integer one.
  c = claims();
  c.erase("exp");
  expect_rejected_by(hsm_signed(header(), c), "exp", {"signature"});
  c["exp"] = 1.0e18;
  expect_rejected_by(hsm_signed(header(), c), "exp", {"signature"});
}

// Regression: `exp + skew` overflowed int64 for exp near INT64_MAX (found by the verify fuzzer).
TEST_F(HostileTokenTest, ExpNearInt64MaxDoesNotOverflow) {
  json c = claims();
  c["exp"] = INT64_MAX;
  VerifyResult r = verify(hsm_signed(header(), c));
  EXPECT_FALSE(r.valid);  // provenance fails anyway; the point is no UB on the way
  c["exp"] = INT64_MAX - 10;
  r = verify(input_of(header(), c) + ".AAAA");
  EXPECT_FALSE(r.valid);
}

TEST_F(HostileTokenTest, OversizedAndDeeplyNestedJson) {
  // Over the 16 KiB token limit.
  json c = claims();
  c["pad"] = std::string(20 * 1024, 'x');
  expect_rejected_by(hsm_signed(header(), c), "format");
  expect_rejected_by(std::string(1 << 20, 'A') + "." + "e30" + "." + "AA", "format");
  // Deeply nested payload, under the byte limit (depth limit 16).
  std::string deep = "{\"iss\":\"" + ks_->issuer + "\",\"n\":" + std::string(40, '[') + std::string(40, ']') + "}";
  std::string in = base64url_encode(header().dump()) + "." + base64url_encode(deep);
  auto sig = env_.hsm->sign(key_->hsm_id, key_->alg, in);
  ASSERT_TRUE(sig.ok());
  expect_rejected_by(in + "." + base64url_encode(*sig), "format");
  // Much deeper (stack safety): 6000 levels, still under 16 KiB once encoded.
  std::string very = std::string(6000, '[') + std::string(6000, ']');
  expect_rejected_by(base64url_encode(header().dump()) + "." + base64url_encode(very) + ".AAAA", "format");
  std::string objs;
  for (int i = 0; i < 2000; ++i) objs += "{\"a\":";
  objs += "1" + std::string(2000, '}');
  expect_rejected_by(base64url_encode(header().dump()) + "." + base64url_encode(objs) + ".AAAA", "format");
  // Nested header (header depth limit 4).
  json h = header();
  h["x"] = json::parse("[[[[[1]]]]]");
  expect_rejected_by(hsm_signed(h, claims()), "format");
  // Not objects, not JSON, not base64url, wrong number of parts, padding.
  expect_rejected_by(base64url_encode("[]") + "." + base64url_encode(claims().dump()) + ".AAAA", "format");
  expect_rejected_by(base64url_encode(header().dump()) + "." + base64url_encode("\"str\"") + ".AAAA", "format");
  expect_rejected_by(base64url_encode(header().dump()) + "." + base64url_encode("{\"a\":") + ".AAAA", "format");
  expect_rejected_by(input_of(header(), claims()), "format");
  expect_rejected_by(input_of(header(), claims()) + ".AA.AA", "format");
  expect_rejected_by(input_of(header(), claims()) + ".AA==", "format");
  expect_rejected_by(input_of(header(), claims()) + ".A+/A", "format");
  expect_rejected_by("", "format");
  // Duplicate keys: the JSON parser keeps one, but a second "alg" cannot smuggle "none" past the
  // signature check.
  const std::string dup = "{\"alg\":\"ES256\",\"kid\":\"" + kid_ + "\",\"alg\":\"none\"}";
  expect_rejected_by(base64url_encode(dup) + "." + base64url_encode(claims().dump()) + ".", "signature");
}

TEST_F(HostileTokenTest, WrongAlgForTheKey) {
  for (const char* alg : {"ES384", "RS256", "PS256", "EdDSA", "ES256K", "es256", ""}) {
    json h = header();
    h["alg"] = alg;
    expect_rejected_by(hsm_signed(h, claims()), "alg", {"kid"});
  }
  json h = header();
  h["alg"] = json::array({"ES256"});
  expect_rejected_by(hsm_signed(h, claims()), "alg");
}

TEST_F(HostileTokenTest, WrongIssuerAndStateChanges) {
  json c = claims();
  c["iss"] = "https://evil.example/a";
  expect_rejected_by(hsm_signed(header(), c), "scope", {"signature"});
  // An issued token stops verifying once its key is compromised.
  auto t = env_.sign("a");
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(env_.keys->compromise("a", kid_, std::nullopt, Actor{"test", ""}, "leaked").ok());
  expect_rejected_by(t->token, "key_state", {"signature", "provenance"});
}

}  // namespace
}  // namespace keymgr::testing
