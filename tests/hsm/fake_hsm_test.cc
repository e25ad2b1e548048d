// FakeHsm: same signature formats and error codes as the PKCS#11 implementation.
#include "tests/support/fake_hsm.h"

#include <gtest/gtest.h>

#include <thread>

#include "hsm/public_key.h"
#include "tests/hsm/test_verify.h"

namespace keymgr::testing {
namespace {

std::string reason(const Status& s) { return std::string(s.reason()); }

TEST(FakeHsm, SignsVerifiablyForEveryAlgorithm) {
  FakeHsm hsm;
  EXPECT_EQ(hsm.supported_algorithms().size(), std::size(kAllAlgorithms));
  int i = 0;
  for (Algorithm alg : kAllAlgorithms) {
    SCOPED_TRACE(algorithm_name(alg));
    const std::string id = "0a0b" + std::to_string(10 + i++);
    auto key = hsm.generate_key(alg, id, "fake-" + std::string(algorithm_name(alg)));
    ASSERT_TRUE(key.ok()) << key.status().to_string();
    EXPECT_EQ(key->public_key.alg, alg);
    const std::string input = jws_signing_input(alg, id, R"({"sub":"fake"})");
    auto sig = hsm.sign(id, alg, input);
    ASSERT_TRUE(sig.ok()) << sig.status().to_string();
    EXPECT_EQ(sig->size(), hsm::signature_size(alg));
    EXPECT_TRUE(hsm::verify_jws_signature(key->public_key, alg, input, *sig).ok());
    EXPECT_TRUE(OpensslVerifies(key->public_key.spki_der, alg, input, *sig));
    auto back = hsm::public_key_from_jwk(hsm::public_jwk(key->public_key), alg);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back->spki_der, key->public_key.spki_der);
  }
  EXPECT_EQ(hsm.sign_calls(), std::size(kAllAlgorithms));
}

TEST(FakeHsm, ErrorCodesMatchThePkcs11Implementation) {
  FakeHsm hsm;
  ASSERT_TRUE(hsm.generate_key(Algorithm::kES256, "01", "web-1").ok());
  EXPECT_EQ(reason(hsm.generate_key(Algorithm::kES256, "01", "again").status()), "key_exists");
  EXPECT_EQ(hsm.generate_key(Algorithm::kES256, "01", "again").status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(reason(hsm.generate_key(Algorithm::kES256, "zz", "x").status()), "invalid_key_id");
  EXPECT_EQ(reason(hsm.generate_key(Algorithm::kES256, "", "x").status()), "invalid_key_id");
  EXPECT_EQ(reason(hsm.sign("01", Algorithm::kES384, "a.b").status()), "algorithm_mismatch");
  EXPECT_EQ(reason(hsm.sign("02", Algorithm::kES256, "a.b").status()), "key_not_found");
  EXPECT_EQ(hsm.sign("02", Algorithm::kES256, "a.b").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(reason(hsm.find_key("02").status()), "key_not_found");
  EXPECT_TRUE(hsm.find_key("01").ok());
  ASSERT_TRUE(hsm.destroy_key("01").ok());
  EXPECT_EQ(reason(hsm.destroy_key("01")), "key_not_found");
  EXPECT_EQ(reason(hsm.sign("01", Algorithm::kES256, "a.b").status()), "key_not_found");

  hsm.set_supported_algorithms({Algorithm::kES256, Algorithm::kRS256});
  EXPECT_EQ(reason(hsm.generate_key(Algorithm::kEdDSA, "03", "x").status()), "algorithm_unsupported");
  EXPECT_EQ(hsm.supported_algorithms(), (std::vector<Algorithm>{Algorithm::kES256, Algorithm::kRS256}));
}

TEST(FakeHsm, FaultSwitches) {
  FakeHsm hsm;
  ASSERT_TRUE(hsm.generate_key(Algorithm::kES256, "0001", "a").ok());
  hsm.fail_next_sign(2);
  for (int i = 0; i < 2; ++i) {
    auto s = hsm.sign("0001", Algorithm::kES256, "a.b");
    EXPECT_EQ(s.status().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(reason(s.status()), "hsm_unavailable");
  }
  EXPECT_TRUE(hsm.sign("0001", Algorithm::kES256, "a.b").ok());
  EXPECT_EQ(hsm.sign_calls(), 3u);
  EXPECT_EQ(hsm.successful_signs(), 1u);

  hsm.fail_next_generate(1);
  EXPECT_EQ(reason(hsm.generate_key(Algorithm::kES256, "0002", "b").status()), "hsm_unavailable");
  EXPECT_EQ(hsm.key_count(), 1u);  // nothing half-made
  EXPECT_TRUE(hsm.generate_key(Algorithm::kES256, "0002", "b").ok());

  hsm.set_unavailable(true);
  EXPECT_EQ(reason(hsm.health()), "hsm_unavailable");
  EXPECT_EQ(reason(hsm.sign("0001", Algorithm::kES256, "a.b").status()), "hsm_unavailable");
  EXPECT_EQ(reason(hsm.list_keys("").status()), "hsm_unavailable");
  EXPECT_EQ(reason(hsm.find_key("0001").status()), "hsm_unavailable");
  hsm.set_unavailable(false);
  EXPECT_TRUE(hsm.health().ok());
  auto keys = hsm.list_keys("");
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].label, "a");
  EXPECT_EQ(hsm.list_keys("b")->size(), 1u);
}

TEST(FakeHsm, ThreadSafe) {
  FakeHsm hsm;
  ASSERT_TRUE(hsm.generate_key(Algorithm::kES256, "aa", "k").ok());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) ok += hsm.sign("aa", Algorithm::kES256, "x.y").ok();
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 800);
}

}  // namespace
}  // namespace keymgr::testing
