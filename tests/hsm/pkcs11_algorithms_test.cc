// Every Algorithm against a real SoftHSM2 token: generate, sign, verify three ways (OpenSSL
// directly, verify_jws_signature, PyJWT), JWK round trip, algorithm recognised after reopening.
// A binary of its own: it signs with Ed25519, where SoftHSM leaks (see tests/support/lsan.supp),
// and attributing that leak needs the slow unwinder, too slow for the concurrency tests.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "hsm/pkcs11_hsm.h"
#include "hsm/public_key.h"
#include "tests/hsm/test_verify.h"
#include "tests/support/hsm_key_lookup.h"
#include "tests/support/softhsm_token.h"

#if defined(__SANITIZE_ADDRESS__)
extern "C" const char* __asan_default_options() { return "fast_unwind_on_malloc=0"; }
#endif

namespace keymgr::testing {
namespace {

using hsm::Pkcs11Hsm;

std::string reason(const Status& s) { return std::string(s.reason()); }

std::string source_dir() {
  const char* d = std::getenv("KEYMGR_SOURCE_DIR");
  return d && *d ? d : KM_SOURCE_DIR;
}

class Pkcs11HsmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    token_ = std::make_unique<SoftHsmToken>("km-hsm-test");
    ASSERT_TRUE(token_->ok()) << token_->error();
  }
  void TearDown() override {
    hsm_.reset();
    token_.reset();
  }
  void Open(hsm::Pkcs11Options opts) {
    auto h = hsm::open_pkcs11_hsm(std::move(opts));
    ASSERT_TRUE(h.ok()) << h.status().to_string();
    hsm_ = std::move(h).value();
  }
  void Open() { Open(token_->options()); }
  Pkcs11Hsm& concrete() { return dynamic_cast<Pkcs11Hsm&>(*hsm_); }

  std::unique_ptr<SoftHsmToken> token_;
  std::unique_ptr<hsm::Hsm> hsm_;
};

TEST_F(Pkcs11HsmTest, EveryAlgorithmSignsAndVerifiesIndependently) {
  Open();
  auto supported = hsm_->supported_algorithms();
  EXPECT_EQ(supported.size(), std::size(kAllAlgorithms)) << "SoftHSM 2.6.1 offers every algorithm";
  nlohmann::json cases = nlohmann::json::array();
  int n = 0;
  for (Algorithm alg : kAllAlgorithms) {
    SCOPED_TRACE(algorithm_name(alg));
    const std::string id = "c0de0" + std::to_string(n++);
    const std::string label = "jwt-" + std::string(algorithm_name(alg));
    auto key = hsm_->generate_key(alg, id, label);
    ASSERT_TRUE(key.ok()) << key.status().to_string();
    EXPECT_EQ(key->id, id);
    EXPECT_EQ(key->label, label);
    EXPECT_EQ(key->public_key.alg, alg);

    const nlohmann::json payload = {{"iss", "keymgr-test"}, {"sub", label}};
    const std::string input = jws_signing_input(alg, id, payload.dump());
    auto sig = hsm_->sign(id, alg, input);
    ASSERT_TRUE(sig.ok()) << sig.status().to_string();
    EXPECT_EQ(sig->size(), hsm::signature_size(alg));
    EXPECT_TRUE(OpensslVerifies(key->public_key.spki_der, alg, input, *sig));
    EXPECT_TRUE(hsm::verify_jws_signature(key->public_key, alg, input, *sig).ok());
    EXPECT_EQ(reason(hsm::verify_jws_signature(key->public_key, alg, input + "!", *sig)), "bad_signature");

    const nlohmann::json jwk = hsm::public_jwk(key->public_key);
    auto back = hsm::public_key_from_jwk(jwk, alg);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back->spki_der, key->public_key.spki_der);

    // The token remembers the algorithm (RS256 vs PS256 via CKA_ALLOWED_MECHANISMS).
    hsm_.reset();
    Open();
    auto found = find_hsm_key(*hsm_, id);
    ASSERT_TRUE(found.ok()) << found.status().to_string();
    EXPECT_EQ(found->public_key.alg, alg);
    EXPECT_EQ(found->public_key.spki_der, key->public_key.spki_der);
    EXPECT_EQ(found->label, label);

    cases.push_back({{"name", std::string(algorithm_name(alg))},
                     {"alg", std::string(jws_alg(alg))},
                     {"token", input + "." + base64url_encode(*sig)},
                     {"jwk", jwk},
                     {"payload", payload}});
  }
  // RSA keys refuse the other padding; EC keys refuse the other curve.
  EXPECT_EQ(reason(hsm_->sign("c0de02", Algorithm::kPS256, "a.b").status()), "algorithm_mismatch");
  EXPECT_EQ(reason(hsm_->sign("c0de00", Algorithm::kES384, "a.b").status()), "algorithm_mismatch");

  // An independent JOSE implementation (PyJWT) accepts every token.
  const std::string path = token_->dir() + "/pyjwt_cases.json";
  std::ofstream(path) << cases.dump();
  std::string out;
  int rc = run_process({"/usr/bin/python3", source_dir() + "/tests/hsm/pyjwt_verify.py", path}, &out);
  EXPECT_EQ(rc, 0) << out;
}

}  // namespace
}  // namespace keymgr::testing
