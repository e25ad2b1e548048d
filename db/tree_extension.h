// Phase 1 of Store::integrate_tree, the same for every backend: check the entries after the tree
// against the hash chain, hash them as leaves, and compute the subtree hashes and root the tree
// will store. Only the storage (a snapshot to read from, a transaction to write in) is the
// backend's.
//
// Thread-safety: a plain value; one thread at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "db/merkle.h"
#include "db/records.h"

namespace keymgr::db {

class TreeExtension {
 public:
  // The tree currently holds entries 1..tree_size.
  explicit TreeExtension(int64_t tree_size) : size_(tree_size) {}

  // Feed ledger entries in seq order, starting at seq tree_size (the last integrated entry: only
  // its hash is used, to link the next; start at 1 for an empty tree). Returns false once an entry
  // does not verify against the chain (feed no more: the tree stops before it).
  bool add(const LedgerEntry& e);
  bool empty() const { return leaves_.empty(); }
  // kDataLoss "ledger_altered" after add() returned false; Ok otherwise.
  const Status& chain_status() const { return chain_; }

  struct Computed {
    std::vector<merkle::Hash> hashes;  // to store at stored_hash_count(tree_size) onwards
    TreeHead head;                     // size and root after them (integrated_at_ms left 0)
  };
  // `stored` holds the tree's hashes as they are now. REQUIRES !empty().
  Result<Computed> compute(const merkle::HashReader& stored) const;

 private:
  int64_t size_;
  Bytes prev_;
  std::vector<merkle::Hash> leaves_;
  Status chain_ = Status::Ok();
};

}  // namespace keymgr::db
