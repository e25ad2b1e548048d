// The one source of time. Production uses SystemClock; tests use ManualClock to run years of
// rotations in seconds. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace keymgr {

using TimePoint = std::chrono::system_clock::time_point;
using Duration = std::chrono::seconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to. Starts at `start`.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start) : ns_(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint(TimePoint::duration(ns_.load())); }
  void set(TimePoint t) { ns_.store(t.time_since_epoch().count()); }
  void advance(std::chrono::nanoseconds d) {
    ns_.fetch_add(std::chrono::duration_cast<TimePoint::duration>(d).count());
  }

 private:
  std::atomic<TimePoint::rep> ns_;
};

inline int64_t to_unix_seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
inline int64_t to_unix_millis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline TimePoint from_unix_seconds(int64_t s) { return TimePoint(std::chrono::seconds(s)); }
inline TimePoint from_unix_millis(int64_t ms) { return TimePoint(std::chrono::milliseconds(ms)); }

}  // namespace keymgr
