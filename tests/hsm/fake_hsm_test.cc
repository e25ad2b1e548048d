// FakeHsm's own switches and counters.
#include "tests/support/fake_hsm.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace keymgr::testing {
namespace {

std::string reason(const Status& s) { return std::string(s.reason()); }

// What every Hsm does (sign, list, destroy, error codes) is checked against SoftHSM2 by
// hsm_conformance_test.cc. Here: what only the fake has, its switches and counters.

TEST(FakeHsm, RestrictedAlgorithmsAreUnsupported) {
  FakeHsm hsm;
  hsm.set_supported_algorithms({Algorithm::kRS256, Algorithm::kES256});
  EXPECT_EQ(hsm.supported_algorithms(), (std::vector<Algorithm>{Algorithm::kES256, Algorithm::kRS256}));
  auto st = hsm.generate_key(Algorithm::kEdDSA, "03", "x").status();
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(reason(st), "algorithm_unsupported");
  EXPECT_EQ(hsm.key_count(), 0u);
  EXPECT_TRUE(hsm.generate_key(Algorithm::kES256, "03", "x").ok());
}

TEST(FakeHsm, CountsCalls) {
  FakeHsm hsm;
  ASSERT_TRUE(hsm.generate_key(Algorithm::kES256, "01", "a").ok());
  EXPECT_FALSE(hsm.generate_key(Algorithm::kES256, "01", "a").ok());
  EXPECT_TRUE(hsm.sign("01", Algorithm::kES256, "a.b").ok());
  EXPECT_FALSE(hsm.sign("02", Algorithm::kES256, "a.b").ok());
  EXPECT_EQ(hsm.generate_calls(), 2u);
  EXPECT_EQ(hsm.sign_calls(), 2u);
  EXPECT_EQ(hsm.successful_signs(), 1u);
  EXPECT_EQ(hsm.key_count(), 1u);
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
  EXPECT_EQ(reason(hsm.generate_key(Algorithm::kES256, "0003", "c").status()), "hsm_unavailable");
  EXPECT_EQ(reason(hsm.destroy_key("0001")), "hsm_unavailable");
  EXPECT_EQ(hsm.health().code(), ErrorCode::kUnavailable);
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
