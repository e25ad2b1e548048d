// Group commit of ledger appends, shared by every backend: callers of append() queue their entry
// and block; one committer thread takes up to max_batch queued entries at a time and commits them
// in one transaction through the backend's CommitFn. While one batch commits (an fsync, a network
// round trip), the next one accumulates: that is the grouping. No caller gets a seq before the
// transaction holding its entry is durable, so no token leaves before its record does.
//
// Owns: the queue and the committer thread. Non-copyable, non-movable.
// Thread-safety: append() may be called from any number of threads. CommitFn runs on the committer
// thread only, one batch at a time; it takes whatever locks the backend needs (the backend's write
// lock must not be held by the thread that calls append()).
// Lock order inside: queue_mu_ is never held while CommitFn runs.
// Failure: a batch that fails is gone as a whole; every caller in it gets kUnavailable
// "ledger_unavailable" (the real cause in the message), so signers fail closed. A signature the
// backend refuses by the sign-time rule (db/signing_admission.h) is left out of the batch and only
// its caller gets the refusal; the rest of the batch commits.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"
#include "db/records.h"
#include "db/store.h"

namespace keymgr::db {

class GroupCommitter {
 public:
  // Commits `entries` in order in one transaction, appending one seq per entry to `seqs` on success;
  // on failure nothing of the batch may remain. Entries with admit[i] set are signatures: the
  // backend checks them by the sign-time rule inside the transaction, and for one it refuses it
  // writes nothing, sets (*refusals)[i] (sized like entries, all Ok on entry) and still appends a
  // seq (ignored).
  using CommitFn = std::function<Status(const std::vector<const LedgerEntry*>& entries, const std::vector<bool>& admit,
                                        std::vector<int64_t>* seqs, std::vector<Status>* refusals)>;

  // Starts the committer thread. max_batch < 1 counts as 1.
  GroupCommitter(int max_batch, CommitFn commit);
  // stop().
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Blocks until the entry's batch committed or failed; returns its seq. `admit`: the entry is a
  // signature, written only if the sign-time rule allows it (else the refusal is returned).
  Result<int64_t> append(LedgerEntry entry, bool admit = false);

  // Commits what is queued, answers every blocked caller and joins the thread; later append()
  // calls fail with "ledger_unavailable". Idempotent.
  void stop();

 private:
  // One caller of append() waiting for its group commit. Lives on the caller's stack; the
  // committer fills status/seq and sets done under queue_mu_.
  struct PendingAppend {
    LedgerEntry entry;
    bool admit = false;
    std::condition_variable cv;  // only this caller waits on it: a batch wakes only its callers
    bool done = false;
    Status status;
    int64_t seq = 0;
  };

  void committer_loop();

  const size_t max_batch_;
  const CommitFn commit_;
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;  // committer: work or stop
  std::deque<PendingAppend*> queue_;  // GUARDED_BY(queue_mu_)
  bool stopping_ = false;             // GUARDED_BY(queue_mu_)
  std::thread committer_;
};

// The CommitStats counters a backend keeps for CommitStatsSource. Thread-safe (a leaf lock).
class CommitCounter {
 public:
  // One ledger write transaction with `entries` entries; `group`: it was a group commit batch.
  void record(size_t entries, bool ok, bool group);
  CommitStats snapshot() const;

 private:
  mutable std::mutex mu_;
  CommitStats stats_;  // GUARDED_BY(mu_)
};

}  // namespace keymgr::db
