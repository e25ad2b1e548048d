#include "db/tree_extension.h"

#include <string>

#include "db/ledger_hash.h"

namespace keymgr::db {

bool TreeExtension::add(const LedgerEntry& e) {
  if (!chain_.ok()) return false;
  if (size_ > 0 && e.seq == size_) {  // the last integrated entry: only its hash, to link the next
    prev_ = e.hash;
    return true;
  }
  const int64_t want = size_ + 1 + static_cast<int64_t>(leaves_.size());
  if (size_ == 0 && e.seq == 1) prev_ = ledger_genesis_hash();
  if (e.seq != want || e.prev_hash != prev_ || ledger_entry_hash(prev_, e) != e.hash) {
    // Never integrate what the chain does not vouch for: the log would commit to it forever.
    chain_ = DataLoss("ledger entry " + std::to_string(want) + " does not verify against the chain; the tree stops "
                      "before it",
                      "ledger_altered");
    return false;
  }
  prev_ = e.hash;
  leaves_.push_back(merkle::leaf_hash(ledger_canonical_encoding(e)));
  return true;
}

Result<TreeExtension::Computed> TreeExtension::compute(const merkle::HashReader& stored) const {
  Computed out;
  const uint64_t n = static_cast<uint64_t>(size_);
  ASSIGN_OR_RETURN(out.hashes, merkle::stored_hashes_for_leaves(n, leaves_, stored));
  merkle::OverlayHashReader overlay(stored, merkle::stored_hash_count(n), out.hashes);
  out.head.size = size_ + static_cast<int64_t>(leaves_.size());
  ASSIGN_OR_RETURN(merkle::Hash root, merkle::tree_hash(static_cast<uint64_t>(out.head.size), overlay));
  out.head.root = merkle::hash_bytes(root);
  return out;
}

}  // namespace keymgr::db
