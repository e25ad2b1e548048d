// Change propagation between instances on one database. Every `interval` each instance asks the
// store which keysets changed (Store::keyset_versions, one small read) and reloads those
// (KeyService::refresh). When the store also offers a ChangeFeed (PostgreSQL LISTEN/NOTIFY), a
// notice wakes the watcher at once, so a keyset created, rotated, suspended, compromised or
// re-configured through one instance is served by every other within one round trip plus one
// reload; the poll stays as the backstop, because a notice sent while the listening connection is
// down is lost for good. Notices of revoked API tokens go to `on_token_revoked` (the
// authenticator's cache), so a revocation through another instance takes effect at once too.
//
// Thread-safety: start()/stop() from the owner; poll() from any thread. Callbacks run on the
// watcher's thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/metrics.h"
#include "db/store.h"
#include "keymgr/key_service.h"

namespace keymgr {

class ChangeWatcher {
 public:
  // `feed` (optional) must outlive the watcher.
  ChangeWatcher(KeyService& keys, std::chrono::milliseconds interval, Metrics* metrics = nullptr,
                db::ChangeFeed* feed = nullptr);
  ~ChangeWatcher();  // stop()
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;

  // Set before start().
  void set_on_token_revoked(std::function<void(const std::string& id)> fn) { on_token_revoked_ = std::move(fn); }

  // One refresh now; returns how many keysets were reloaded.
  Result<int> poll();
  void start();
  void stop();

 private:
  void run();
  // Waits until `until`, a notice, or stop(); returns false on stop().
  bool wait(std::chrono::steady_clock::time_point until);
  void report(const std::string& what, const Status& st);

  KeyService& keys_;
  const std::chrono::milliseconds interval_;
  Metrics* metrics_;
  db::ChangeFeed* feed_;
  std::function<void(const std::string&)> on_token_revoked_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
  std::string last_poll_error_, last_feed_error_;  // watcher thread only
};

}  // namespace keymgr
