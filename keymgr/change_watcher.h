// Change propagation between instances on one database: every `interval` each instance asks the
// store which keysets changed (Store::keyset_versions, one small read) and reloads those
// (KeyService::refresh). A keyset created, rotated, suspended, compromised or re-configured
// through one instance is therefore served by every other within interval + one reload.
//
// Thread-safety: start()/stop() from the owner; poll() from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "common/metrics.h"
#include "keymgr/key_service.h"

namespace keymgr {

class ChangeWatcher {
 public:
  ChangeWatcher(KeyService& keys, std::chrono::milliseconds interval, Metrics* metrics = nullptr);
  ~ChangeWatcher();  // stop()
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;

  // One refresh now; returns how many keysets were reloaded.
  Result<int> poll();
  void start();
  void stop();

 private:
  void run();

  KeyService& keys_;
  const std::chrono::milliseconds interval_;
  Metrics* metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace keymgr
