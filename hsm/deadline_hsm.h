// Deadlines for HSM calls. A PKCS#11 call cannot be cancelled, and a module that hangs (a network
// HSM behind a dead link, a p11-kit server that stopped answering) would otherwise hold the
// calling thread, and every lock it holds, for ever. with_deadlines() wraps any Hsm so that each
// call runs on one of a few worker threads while the caller waits at most a deadline:
//
//   - past the deadline the caller gets kUnavailable/"hsm_timeout" (HTTP 503) and nothing else:
//     a signature that arrives later is thrown away, so no token is ever returned from it;
//   - a call still queued when its caller gave up is never started (no late key generation);
//   - when every worker is stuck past its deadline, new calls fail at once instead of queueing;
//   - when the module answers again the workers are free and service resumes by itself.
//
// Time spent waiting for a worker counts against the deadline. Arguments are copied, so the
// caller's buffers may go away when it stops waiting.
//
// Thread-safety: thread-safe, like every Hsm. The destructor waits for calls in progress.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "hsm/hsm.h"

namespace keymgr::hsm {

struct DeadlineOptions {
  std::chrono::milliseconds call_timeout{2000};    // sign, health
  std::chrono::milliseconds admin_timeout{60000};  // generate_key, list_keys, destroy_key
  int workers = 6;                                 // calls that can be inside the module at once
};

struct DeadlineStats {
  uint64_t calls = 0;      // calls started on a worker
  uint64_t timeouts = 0;   // callers that gave up at their deadline
  uint64_t fast_fails = 0; // calls refused because every worker was stuck
  int overdue = 0;         // calls inside the module past their deadline right now
};

class DeadlineHsm : public Hsm {
 public:
  virtual DeadlineStats deadline_stats() const = 0;
  virtual Hsm& inner() = 0;
};

// `inner` must not be null. Options are clamped: timeouts >= 1 ms, 1 <= workers <= 256.
std::unique_ptr<DeadlineHsm> with_deadlines(std::unique_ptr<Hsm> inner, DeadlineOptions options);

}  // namespace keymgr::hsm
