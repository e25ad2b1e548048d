#include "keymgr/scheduler.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace keymgr {

Scheduler::Scheduler(KeyService& keys, std::chrono::milliseconds interval)
    : keys_(keys), interval_(std::max(interval, kMinGap)) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::add_job(std::function<void()> job) { jobs_.push_back(std::move(job)); }

bool Scheduler::pass_fence(std::optional<db::Fence>* fence) {
  if (!fence_) return true;
  *fence = fence_();
  if (!*fence) {
    followed_ = true;
    // A follower advances nothing, so nothing else would clear the change flag: without this, one
    // keyset change (e.g. reloaded from another instance) made run() wake at once forever.
    std::lock_guard lk(mu_);
    changed_ = false;
    return false;
  }
  if (followed_ || (led_epoch_ && *led_epoch_ != (*fence)->epoch)) {
    // A new term: what a previous leader left half-done is ours to repair now.
    reconciled_ = false;
  }
  followed_ = false;
  led_epoch_ = (*fence)->epoch;
  return true;
}

void Scheduler::note(const Status& st) {
  if (!st.ok() && st.reason() == "stale_leader" && on_stale_) on_stale_(st);
}

TickReport Scheduler::advance_each(const std::vector<std::string>& names, const std::optional<db::Fence>& fence) {
  const auto start = std::chrono::steady_clock::now();
  {
    std::lock_guard lk(mu_);
    changed_ = false;  // changes made from here on are seen by the next next_wake()
  }
  TickReport rep;
  for (const auto& name : names) {
    rep.keysets++;
    Status st = keys_.advance(name, fence ? &*fence : nullptr);
    if (!st.ok()) rep.failed++;  // logged and kept in the keyset's health by advance()
    note(st);
  }
  for (auto& job : jobs_) job();
  rep.took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  return rep;
}

void Scheduler::reconcile(const std::optional<db::Fence>& fence) {
  const auto start = std::chrono::steady_clock::now();
  auto r = keys_.reconcile(fence ? &*fence : nullptr);
  reconciled_ = r.ok() && r->done;
  if (!r.ok()) return note(r.status());
  if (r->done) {
    spdlog::info("reconcile done in {} ms: {} unfinished generations removed, {} orphan HSM keys destroyed, {} missing keys recorded",
                 std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count(),
                 r->intents_removed, r->orphans_destroyed, r->missing_marked);
  }
}

TickReport Scheduler::tick() {
  std::lock_guard tl(tick_mu_);
  std::optional<db::Fence> fence;
  if (!pass_fence(&fence)) return {};
  if (!reconciled_) reconcile(fence);
  std::vector<std::string> names;
  for (const auto& ks : keys_.keysets()) names.push_back(ks->name);
  TickReport r = advance_each(names, fence);
  // Keys near their max_signatures get their successor pre-published (one read per such keyset).
  keys_.rotate_for_usage();
  return r;
}

TickReport Scheduler::tick_due() {
  std::lock_guard tl(tick_mu_);
  std::optional<db::Fence> fence;
  if (!pass_fence(&fence)) return {};
  // A new term (or a repair still pending): repair before advancing, as tick() does, rather
  // than waiting for the next full sweep.
  if (!reconciled_) reconcile(fence);
  return advance_each(keys_.due_keysets(keys_.clock().now()), fence);
}

void Scheduler::wake() {
  {
    std::lock_guard l(mu_);
    changed_ = true;
  }
  cv_.notify_all();
}

TimePoint Scheduler::next_wake(TimePoint now) const {
  const TimePoint earliest = now + kMinGap;
  const TimePoint latest = now + interval_;
  const std::optional<TimePoint> ev = keys_.next_event();
  if (!ev) return latest;
  return std::clamp(*ev, earliest, latest);
}

void Scheduler::start() {
  // Registered before taking mu_: the listener runs under KeyService's listener lock and takes mu_,
  // so mu_ must never be held while calling into KeyService (lock order: listener lock, then mu_).
  keys_.set_change_listener([this] {
    if (std::this_thread::get_id() == loop_thread_.load()) return;
    {
      std::lock_guard l(mu_);
      changed_ = true;
    }
    cv_.notify_all();
  });
  std::lock_guard lk(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Scheduler::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  keys_.set_change_listener(nullptr);
}

void Scheduler::run() {
  using steady = std::chrono::steady_clock;
  loop_thread_.store(std::this_thread::get_id());
  tick();
  steady::time_point last_sweep = steady::now();
  for (;;) {
    const TimePoint now = keys_.clock().now();
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_wake(now) - now);
    {
      std::unique_lock lk(mu_);
      if (cv_.wait_for(lk, wait, [this] { return stopping_ || changed_; }) && stopping_) return;
    }
    if (steady::now() - last_sweep >= interval_) {
      tick();
      last_sweep = steady::now();
    } else {
      tick_due();
    }
  }
}

}  // namespace keymgr
