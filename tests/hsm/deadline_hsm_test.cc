// Deadlines on HSM calls (hsm/deadline_hsm.h): a hung module answers 503 hsm_timeout instead of
// holding the caller, abandoned queued calls never run, stuck workers make new calls fail at once,
// and service resumes by itself when the module answers again. First against a gated FakeHsm
// (fast, exact), then against a real SoftHSM2 token whose C_Sign is made to hang at the PKCS#11
// boundary.
#include "hsm/deadline_hsm.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "hsm/pkcs11_hsm.h"
#include "tests/hsm/test_verify.h"
#include "tests/support/fake_hsm.h"
#include "tests/support/hsm_key_lookup.h"
#include "tests/support/pkcs11_fault.h"
#include "tests/support/softhsm_token.h"

namespace keymgr::testing {
namespace {

using namespace std::chrono_literals;
using hsm::DeadlineOptions;

// A FakeHsm whose sign/generate_key block while the gate is closed.
class GatedHsm : public FakeHsm {
 public:
  void close_gate() {
    std::lock_guard l(mu_);
    open_ = false;
  }
  void open_gate() {
    std::lock_guard l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int waiting() const { return waiting_.load(); }
  int generates_started() const { return generates_started_.load(); }

  Result<Bytes> sign(std::string_view id, Algorithm alg, std::string_view in) override {
    wait_gate();
    return FakeHsm::sign(id, alg, in);
  }
  Result<hsm::KeyInfo> generate_key(Algorithm alg, std::string_view id, std::string_view label) override {
    ++generates_started_;
    wait_gate();
    return FakeHsm::generate_key(alg, id, label);
  }

 private:
  void wait_gate() {
    std::unique_lock l(mu_);
    ++waiting_;
    cv_.wait(l, [&] { return open_; });
    --waiting_;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  std::atomic<int> waiting_{0};
  std::atomic<int> generates_started_{0};
};

template <typename Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (p()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return p();
}

class DeadlineHsmTest : public ::testing::Test {
 protected:
  void Make(DeadlineOptions o) {
    auto g = std::make_unique<GatedHsm>();
    gated_ = g.get();
    hsm_ = hsm::with_deadlines(std::move(g), o);
    ASSERT_TRUE(hsm_->generate_key(Algorithm::kES256, "a1", "k").ok());
  }
  void TearDown() override {
    if (gated_ != nullptr) gated_->open_gate();
    hsm_.reset();
  }
  GatedHsm* gated_ = nullptr;
  std::unique_ptr<hsm::DeadlineHsm> hsm_;
};

TEST_F(DeadlineHsmTest, AnsweringModuleIsPassedThrough) {
  Make({});
  auto sig = hsm_->sign("a1", Algorithm::kES256, "e30.e30");
  ASSERT_TRUE(sig.ok()) << sig.status().to_string();
  auto key = find_hsm_key(*hsm_, "a1");
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(OpensslVerifies(key->public_key.spki_der, Algorithm::kES256, "e30.e30", *sig));
  EXPECT_EQ(hsm_->sign("b2", Algorithm::kES256, "e30.e30").status().reason(), "key_not_found");  // errors pass through
  EXPECT_EQ(hsm_->supported_algorithms(), gated_->supported_algorithms());
  EXPECT_EQ(hsm_->deadline_stats().timeouts, 0u);
}

TEST_F(DeadlineHsmTest, HungSignAnswersHsmTimeoutAndTheLateSignatureIsDropped) {
  DeadlineOptions o;
  o.call_timeout = 150ms;
  Make(o);
  gated_->close_gate();
  const auto t0 = std::chrono::steady_clock::now();
  auto sig = hsm_->sign("a1", Algorithm::kES256, "e30.e30");
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(sig.ok());
  EXPECT_EQ(sig.status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(sig.status().reason(), "hsm_timeout");
  EXPECT_NE(sig.status().message().find("150 ms"), std::string::npos) << sig.status().message();
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 5s);  // not held until the module answers
  EXPECT_EQ(hsm_->deadline_stats().timeouts, 1u);
  EXPECT_EQ(gated_->waiting(), 1);  // the call is still inside the "module"
  EXPECT_TRUE(eventually([&] { return hsm_->deadline_stats().overdue == 1; }));
  gated_->open_gate();
  // The module answers: the late signature is thrown away and service resumes on its own.
  EXPECT_TRUE(eventually([&] { return hsm_->deadline_stats().overdue == 0; }));
  auto again = hsm_->sign("a1", Algorithm::kES256, "e30.e30");
  EXPECT_TRUE(again.ok()) << again.status().to_string();
}

TEST_F(DeadlineHsmTest, QueuedCallWhoseCallerGaveUpNeverRuns) {
  DeadlineOptions o;
  o.workers = 1;
  o.call_timeout = 2s;
  o.admin_timeout = 100ms;
  Make(o);
  const int generates_before = gated_->generates_started();
  gated_->close_gate();
  auto hung = std::async(std::launch::async, [&] { return hsm_->sign("a1", Algorithm::kES256, "x.y"); });
  ASSERT_TRUE(eventually([&] { return gated_->waiting() == 1; }));
  // The only worker is busy (not yet overdue): this waits in the queue and gives up there.
  auto gen = hsm_->generate_key(Algorithm::kES256, "b2", "late");
  EXPECT_EQ(gen.status().reason(), "hsm_timeout");
  gated_->open_gate();
  EXPECT_TRUE(hung.get().ok());  // the first caller was within its 2 s deadline
  // The abandoned generation was never started: no key appears later.
  EXPECT_TRUE(eventually([&] { return hsm_->deadline_stats().overdue == 0; }));
  EXPECT_EQ(hsm_->sign("a1", Algorithm::kES256, "x.y").ok(), true);  // worker went past it
  EXPECT_EQ(gated_->generates_started(), generates_before);
  EXPECT_EQ(find_hsm_key(*hsm_, "b2").status().reason(), "key_not_found");
}

TEST_F(DeadlineHsmTest, EveryWorkerStuckMeansNewCallsFailAtOnce) {
  DeadlineOptions o;
  o.workers = 2;
  o.call_timeout = 50ms;
  Make(o);
  gated_->close_gate();
  for (int i = 0; i < 2; ++i) EXPECT_EQ(hsm_->sign("a1", Algorithm::kES256, "x.y").status().reason(), "hsm_timeout");
  ASSERT_TRUE(eventually([&] { return hsm_->deadline_stats().overdue == 2; }));
  auto fast = hsm_->health();
  EXPECT_EQ(fast.reason(), "hsm_timeout");
  EXPECT_NE(fast.message().find("stuck"), std::string::npos) << fast.message();
  EXPECT_EQ(hsm_->deadline_stats().fast_fails, 1u);
  gated_->open_gate();
  ASSERT_TRUE(eventually([&] { return hsm_->deadline_stats().overdue == 0; }));
  EXPECT_TRUE(hsm_->health().ok());
  EXPECT_TRUE(hsm_->sign("a1", Algorithm::kES256, "x.y").ok());
}

TEST_F(DeadlineHsmTest, ManyConcurrentCallersAllGetAnAnswer) {
  DeadlineOptions o;
  o.workers = 3;
  Make(o);
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 200; ++i) ok += hsm_->sign("a1", Algorithm::kES256, "x." + std::to_string(i)).ok() ? 1 : 0;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 8 * 200);
  EXPECT_EQ(hsm_->deadline_stats().calls, 8u * 200 + 1);  // + the key generation in Make()
}

// The same against SoftHSM2: C_Sign hangs at the PKCS#11 boundary.
TEST(DeadlineSoftHsmTest, HungCSignTimesOutAndTheSessionPoolRecovers) {
  SoftHsmToken token("km-deadline");
  ASSERT_TRUE(token.ok()) << token.error();
  Pkcs11FaultInjector faults;
  auto opts = token.options();
  opts.function_list_hook = faults.hook();
  auto opened = hsm::open_pkcs11_hsm(std::move(opts));
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  auto* pool = dynamic_cast<hsm::Pkcs11Hsm*>(opened->get());
  DeadlineOptions o;
  o.call_timeout = 200ms;
  auto h = hsm::with_deadlines(std::move(*opened), o);
  auto key = h->generate_key(Algorithm::kES256, "d1", "deadline");
  ASSERT_TRUE(key.ok()) << key.status().to_string();

  faults.hang(P11Call::kSign);
  for (int i = 0; i < 3; ++i) {
    auto sig = h->sign("d1", Algorithm::kES256, "e30.e30");
    ASSERT_FALSE(sig.ok());
    EXPECT_EQ(sig.status().reason(), "hsm_timeout") << sig.status().to_string();
  }
  EXPECT_EQ(faults.hung(), 3);
  EXPECT_EQ(pool->pool_stats().leased, 3);  // stuck inside C_Sign, each on its own session
  // A call that does not reach C_Sign still works while signatures hang.
  EXPECT_TRUE(find_hsm_key(*h, "d1").ok());

  faults.release_hangs();
  ASSERT_TRUE(eventually([&] { return h->deadline_stats().overdue == 0 && pool->pool_stats().leased == 0; }));
  auto sig = h->sign("d1", Algorithm::kES256, "e30.e30");
  ASSERT_TRUE(sig.ok()) << sig.status().to_string();
  EXPECT_TRUE(OpensslVerifies(key->public_key.spki_der, Algorithm::kES256, "e30.e30", *sig));
  EXPECT_EQ(pool->pool_stats().replaced, 0u);  // the sessions survived the hang
  h.reset();
}

}  // namespace
}  // namespace keymgr::testing
