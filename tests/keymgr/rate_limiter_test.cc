// The signing rate limiter's token buckets (keymgr/rate_limiter.h), on injected time.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "keymgr/rate_limiter.h"

namespace keymgr {
namespace {
using namespace std::chrono_literals;

TEST(RateLimiter, ABucketGrantsItsBurstThenRefillsAtTheRate) {
  RateLimiter rl;
  TimePoint t{std::chrono::seconds(1'700'000'000)};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(rl.take("k", 2, 4, t), 0) << i;
  EXPECT_EQ(rl.take("k", 2, 4, t), 500) << "empty: one signature comes back in 1/rate s";
  EXPECT_EQ(rl.take("k", 2, 4, t + 250ms), 250);
  EXPECT_EQ(rl.take("k", 2, 4, t + 500ms), 0);
  EXPECT_GT(rl.take("k", 2, 4, t + 500ms), 0);
  // A long pause refills to the burst, never beyond it.
  const TimePoint later = t + 1h;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(rl.take("k", 2, 4, later), 0) << i;
  EXPECT_GT(rl.take("k", 2, 4, later), 0);
  // Buckets are independent; rate 0 is no limit; burst 0 is one second's worth.
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(rl.take("free", 0, 0, t), 0);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rl.take("b0", 3, 0, t), 0);
  EXPECT_GT(rl.take("b0", 3, 0, t), 0);
  // A clock that steps back refills nothing.
  EXPECT_GT(rl.take("b0", 3, 0, t - 1h), 0);
  // A lowered burst applies at once.
  EXPECT_EQ(rl.take("low", 100, 100, t), 0);
  EXPECT_EQ(rl.take("low", 1, 1, t), 0);
  EXPECT_GT(rl.take("low", 1, 1, t), 0);
}

TEST(RateLimiter, ConcurrentCallersNeverGetMoreThanTheBurst) {
  RateLimiter rl;
  const TimePoint t{std::chrono::seconds(1'700'000'000)};
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 500; ++j) granted += rl.take("hot", 10, 50, t) == 0 ? 1 : 0;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(granted.load(), 50);
}

}  // namespace
}  // namespace keymgr
