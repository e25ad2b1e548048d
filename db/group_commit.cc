#include "db/group_commit.h"

#include <algorithm>
#include <string>
#include <utility>

namespace keymgr::db {

GroupCommitter::GroupCommitter(int max_batch, CommitFn commit)
    : max_batch_(static_cast<size_t>(std::max(1, max_batch))), commit_(std::move(commit)) {
  committer_ = std::thread([this] { committer_loop(); });
}

GroupCommitter::~GroupCommitter() { stop(); }

void GroupCommitter::stop() {
  {
    std::lock_guard lk(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  // The committer drains the queue before it exits, so every blocked caller gets an answer.
  if (committer_.joinable()) committer_.join();
}

Result<int64_t> GroupCommitter::append(LedgerEntry entry, bool admit) {
  PendingAppend p;
  p.entry = std::move(entry);
  p.admit = admit;
  std::unique_lock lk(queue_mu_);
  if (stopping_) return Unavailable("ledger store is shutting down", std::string(kLedgerUnavailable));
  queue_.push_back(&p);
  queue_cv_.notify_one();
  p.cv.wait(lk, [&] { return p.done; });
  if (!p.status.ok()) return p.status;
  return p.seq;
}

void GroupCommitter::committer_loop() {
  for (;;) {
    std::vector<PendingAppend*> batch;
    {
      std::unique_lock lk(queue_mu_);
      queue_cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    std::vector<const LedgerEntry*> entries;
    std::vector<bool> admit;
    entries.reserve(batch.size());
    admit.reserve(batch.size());
    for (auto* p : batch) {
      entries.push_back(&p->entry);
      admit.push_back(p->admit);
    }
    std::vector<int64_t> seqs;
    seqs.reserve(batch.size());
    std::vector<Status> refusals(batch.size());
    Status st = commit_(entries, admit, &seqs, &refusals);
    if (st.ok() && seqs.size() != batch.size()) {
      st = Internal("group commit: " + std::to_string(seqs.size()) + " seqs for " + std::to_string(batch.size()) +
                    " entries");
    }
    if (!st.ok()) {
      // Whatever went wrong, the batch is gone: report it as the ledger being unavailable so the
      // signer fails closed, and keep the real cause in the message.
      st = Status(ErrorCode::kUnavailable, std::string(kLedgerUnavailable),
                  st.code() == ErrorCode::kUnavailable ? st.message() : st.to_string());
    }
    std::lock_guard lk(queue_mu_);
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i]->status = st.ok() ? refusals[i] : st;
      if (batch[i]->status.ok()) batch[i]->seq = seqs[i];
      batch[i]->done = true;
      // Notified under queue_mu_: the caller cannot return (and destroy its PendingAppend, which
      // lives on its stack) before we release the lock.
      batch[i]->cv.notify_one();
    }
  }
}

void CommitCounter::record(size_t entries, bool ok, bool group) {
  std::lock_guard lk(mu_);
  if (!ok) {
    ++stats_.failed_transactions;
    return;
  }
  ++stats_.transactions;
  stats_.entries += static_cast<int64_t>(entries);
  if (group) stats_.largest_batch = std::max<int64_t>(stats_.largest_batch, static_cast<int64_t>(entries));
}

CommitStats CommitCounter::snapshot() const {
  std::lock_guard lk(mu_);
  return stats_;
}

}  // namespace keymgr::db
