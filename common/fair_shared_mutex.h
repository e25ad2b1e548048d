// A reader-writer lock that lets a waiting writer in ahead of new readers, so a steady stream of
// readers (signers) cannot starve a writer (a key transition). Meets the SharedMutex requirements:
// use with std::shared_lock and std::unique_lock.
#pragma once

#include <condition_variable>
#include <mutex>

namespace keymgr {

class FairSharedMutex {
 public:
  void lock() {
    std::unique_lock lk(mu_);
    ++writers_waiting_;
    cv_.wait(lk, [&] { return !writer_ && readers_ == 0; });
    --writers_waiting_;
    writer_ = true;
  }
  void unlock() {
    {
      std::lock_guard lk(mu_);
      writer_ = false;
    }
    cv_.notify_all();
  }
  void lock_shared() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return !writer_ && writers_waiting_ == 0; });
    ++readers_;
  }
  void unlock_shared() {
    bool last = false;
    {
      std::lock_guard lk(mu_);
      last = --readers_ == 0;
    }
    if (last) cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int readers_ = 0;          // guarded by mu_
  int writers_waiting_ = 0;  // guarded by mu_
  bool writer_ = false;      // guarded by mu_
};

}  // namespace keymgr
