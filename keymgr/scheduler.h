// The rotation scheduler. It acts at the moment something is due: after each pass it asks the
// KeyService for the earliest event (a window that ends or starts, a successor to generate, a
// grace or destroy time, a failed step's retry) and sleeps until then, never longer than
// `interval` and never shorter than kMinGap. Each wake-up advances only the keysets that are due;
// every `interval` a full sweep advances all of them (one keyset failing does not stop the
// others) and retries start-up repair until the HSM answers. A committed change to any keyset
// (an operator's rotation, a new keyset, a policy update) wakes it to recompute.
//
// So a successor is generated `prepublish + rotation_lead` before it is needed whatever the
// interval; the interval only bounds how stale a missed wake-up can be.
//
// Thread-safety: tick() / tick_due() may be called from any thread (one pass at a time); start()
// and stop() from the owner. Tests drive tick()/tick_due() with a ManualClock and next_wake().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "keymgr/key_service.h"

namespace keymgr {

struct TickReport {
  int keysets = 0;  // keysets advanced
  int failed = 0;
  std::chrono::microseconds took{0};
};

class Scheduler {
 public:
  // The shortest pause between two passes (a due event that a pass could not clear does not spin).
  static constexpr std::chrono::milliseconds kMinGap{50};

  Scheduler(KeyService& keys, std::chrono::milliseconds interval);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Extra work run at the end of every pass (e.g. ledger checkpoints). Call before start().
  void add_job(std::function<void()> job);

  // A full sweep: advances every keyset, then pre-publishes successors for keys near their
  // max_signatures (KeyService::rotate_for_usage).
  TickReport tick();
  // Advances only the keysets with an event due at the clock's now.
  TickReport tick_due();
  // When the loop wakes after a pass that ended at `now`: the earliest due event, clamped to
  // [now + kMinGap, now + interval].
  TimePoint next_wake(TimePoint now) const;

  // Start-up repair already ran (KeyService::load reached the HSM): ticks need not repeat it.
  void mark_reconciled() { reconciled_ = true; }
  // Several instances (keymgr/leadership.h): a pass runs only while `fence` returns one (this
  // instance leads), and every change it makes carries it. A follower's passes do nothing; on
  // becoming leader it repairs (reconcile) again before advancing. Call before start().
  void set_fence_source(std::function<std::optional<db::Fence>()> fence) { fence_ = std::move(fence); }
  // Called with every write refused because the fence was stale (Leadership::report_refusal).
  void set_on_stale(std::function<void(const Status&)> fn) { on_stale_ = std::move(fn); }
  // Makes the loop run a pass now (e.g. this instance just became leader: repair at once rather
  // than at the next due event or sweep). Any thread.
  void wake();
  void start();
  void stop();

 private:
  void run();
  TickReport advance_each(const std::vector<std::string>& names, const std::optional<db::Fence>& fence);
  // The fence for this pass: nullopt without a fence source; false when this instance does not lead.
  bool pass_fence(std::optional<db::Fence>* fence);
  void note(const Status& st);
  // Runs reconcile with the fence (REQUIRES tick_mu_) and records whether it finished.
  void reconcile(const std::optional<db::Fence>& fence);

  KeyService& keys_;
  std::chrono::milliseconds interval_;
  std::vector<std::function<void()>> jobs_;
  bool reconciled_ = false;  // touched only under tick_mu_
  std::function<std::optional<db::Fence>()> fence_;
  std::function<void(const Status&)> on_stale_;
  std::optional<int64_t> led_epoch_;  // touched only under tick_mu_: the term the last pass ran in
  bool followed_ = false;             // touched only under tick_mu_: a pass found this instance following
  std::mutex tick_mu_;       // one pass at a time
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  bool changed_ = false;   // guarded by mu_: a keyset changed since the last pass began
  // The loop's own thread: its passes' changes need no wake-up (the next next_wake() sees them).
  std::atomic<std::thread::id> loop_thread_{};
  std::thread thread_;
};

}  // namespace keymgr
