#include "keymgr/scheduler.h"

#include <spdlog/spdlog.h>

namespace keymgr {

Scheduler::Scheduler(KeyService& keys, std::chrono::milliseconds interval) : keys_(keys), interval_(interval) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::add_job(std::function<void()> job) { jobs_.push_back(std::move(job)); }

TickReport Scheduler::tick() {
  std::lock_guard tl(tick_mu_);
  const auto start = std::chrono::steady_clock::now();
  TickReport rep;
  if (!reconciled_) {
    auto r = keys_.reconcile();
    reconciled_ = r.ok() && r->done;
  }
  for (const auto& ks : keys_.keysets()) {
    rep.keysets++;
    Status st = keys_.advance(ks->name);
    if (!st.ok()) rep.failed++;  // logged and kept in the keyset's health by advance()
  }
  for (auto& job : jobs_) job();
  rep.took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  ticks_++;
  std::lock_guard lk(mu_);
  last_ = rep;
  return rep;
}

void Scheduler::start() {
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
}

TickReport Scheduler::last_report() const {
  std::lock_guard lk(mu_);
  return last_;
}

void Scheduler::run() {
  for (;;) {
    tick();
    std::unique_lock lk(mu_);
    if (cv_.wait_for(lk, interval_, [this] { return stopping_; })) return;
  }
}

}  // namespace keymgr
