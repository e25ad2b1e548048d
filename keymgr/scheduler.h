// The rotation scheduler: every `interval`, advances every keyset (one keyset failing does not
// stop the others), retries start-up repair until the HSM answers, and runs periodic jobs
// (ledger checkpoints). tick() can be called directly with a ManualClock in tests.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "keymgr/key_service.h"

namespace keymgr {

struct TickReport {
  int keysets = 0;
  int failed = 0;
  std::chrono::microseconds took{0};
};

class Scheduler {
 public:
  Scheduler(KeyService& keys, std::chrono::milliseconds interval);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Extra work run at the end of every tick (e.g. ledger checkpoints). Call before start().
  void add_job(std::function<void()> job);

  TickReport tick();
  // Start-up repair already ran (KeyService::load reached the HSM): ticks need not repeat it.
  void mark_reconciled() { reconciled_ = true; }
  void start();
  void stop();
  TickReport last_report() const;
  int64_t ticks() const { return ticks_.load(); }

 private:
  void run();

  KeyService& keys_;
  std::chrono::milliseconds interval_;
  std::vector<std::function<void()>> jobs_;
  bool reconciled_ = false;  // touched only by tick()
  std::mutex tick_mu_;       // one tick at a time
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;    // guarded by mu_
  TickReport last_;          // guarded by mu_
  std::atomic<int64_t> ticks_{0};
  std::thread thread_;
};

}  // namespace keymgr
