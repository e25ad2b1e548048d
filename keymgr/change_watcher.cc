#include "keymgr/change_watcher.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace keymgr {

namespace {
// Longest single wait on the feed: bounds how long stop() waits for the watcher thread.
constexpr std::chrono::milliseconds kFeedSlice{250};
}  // namespace

ChangeWatcher::ChangeWatcher(KeyService& keys, std::chrono::milliseconds interval, Metrics* metrics,
                             db::ChangeFeed* feed)
    : keys_(keys), interval_(interval), metrics_(metrics), feed_(feed) {}

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

void ChangeWatcher::report(const std::string& what, const Status& st) {
  std::string& last = what == "feed" ? last_feed_error_ : last_poll_error_;
  const std::string err = st.ok() ? "" : st.to_string();
  if (err == last) return;
  if (err.empty()) {
    spdlog::info("change watcher: {} recovered", what == "feed" ? "change notices" : "keyset refresh");
  } else if (what == "feed") {
    spdlog::warn("change watcher: change notices unavailable, polling every {} ms meanwhile: {}", interval_.count(),
                 err);
  } else {
    spdlog::warn("change watcher: keysets not refreshed: {}", err);
  }
  last = err;
}

bool ChangeWatcher::wait(std::chrono::steady_clock::time_point until) {
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    {
      std::unique_lock lk(mu_);
      if (stopping_) return false;
      if (now >= until) return true;
      if (feed_ == nullptr || !last_feed_error_.empty()) {
        // No feed (or it is down): sleep in slices so that a broken feed is retried meanwhile.
        const auto slice = feed_ == nullptr ? until : std::min(until, now + kFeedSlice * 4);
        if (cv_.wait_until(lk, slice, [&] { return stopping_; })) return false;
        if (feed_ == nullptr) continue;
      }
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    auto notices = feed_->wait_for_changes(std::clamp(left, std::chrono::milliseconds(0), kFeedSlice));
    report("feed", notices.status());
    if (!notices.ok() || notices->empty()) continue;
    bool keysets = false;
    for (const auto& n : *notices) {
      if (n == db::ChangeFeed::kKeysetsChanged) {
        keysets = true;
      } else if (n.starts_with(db::ChangeFeed::kApiTokenPrefix) && on_token_revoked_) {
        on_token_revoked_(n.substr(db::ChangeFeed::kApiTokenPrefix.size()));
      }
    }
    if (metrics_) metrics_->inc("keymgr_change_notices_total", "", static_cast<int64_t>(notices->size()));
    if (keysets) return true;
  }
}

void ChangeWatcher::run() {
  for (;;) {
    if (!wait(std::chrono::steady_clock::now() + interval_)) return;
    auto n = poll();
    report("poll", n.status());
  }
}

}  // namespace keymgr
