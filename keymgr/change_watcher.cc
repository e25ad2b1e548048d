#include "keymgr/change_watcher.h"

#include <spdlog/spdlog.h>

namespace keymgr {

ChangeWatcher::ChangeWatcher(KeyService& keys, std::chrono::milliseconds interval, Metrics* metrics)
    : keys_(keys), interval_(interval), metrics_(metrics) {}

ChangeWatcher::~ChangeWatcher() { stop(); }

Result<int> ChangeWatcher::poll() {
  auto n = keys_.refresh();
  if (n.ok() && *n > 0 && metrics_) metrics_->inc("keymgr_keyset_reloads_total", "", *n);
  return n;
}

void ChangeWatcher::start() {
  std::lock_guard lk(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void ChangeWatcher::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ChangeWatcher::run() {
  std::string last_error;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      if (cv_.wait_for(lk, interval_, [&] { return stopping_; })) return;
    }
    auto n = poll();
    const std::string err = n.ok() ? "" : n.status().to_string();
    if (err != last_error) {
      if (err.empty()) {
        spdlog::info("change watcher: recovered");
      } else {
        spdlog::warn("change watcher: keysets not refreshed: {}", err);
      }
      last_error = err;
    }
  }
}

}  // namespace keymgr
