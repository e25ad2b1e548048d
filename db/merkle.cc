#include "db/merkle.h"

#include <algorithm>
#include <bit>
#include <map>
#include <string>

#include "common/crypto.h"

namespace keymgr::db::merkle {
namespace {

Status bad_argument(std::string message) {
  return InvalidArgument("merkle: " + std::move(message), "merkle_bad_argument");
}

Status mismatch(std::string message) {
  return DataLoss("merkle: " + std::move(message), "merkle_proof_mismatch");
}

Hash to_hash(const Bytes& b) {
  Hash h{};
  std::copy_n(b.begin(), std::min(b.size(), h.size()), h.begin());
  return h;
}

// Largest power of two strictly below x. REQUIRES x >= 2.
uint64_t split_point(uint64_t x) { return std::bit_floor(x - 1); }

// The complete subtrees that make up [lo, hi), left to right (each as large as possible): their
// stored-hash indexes are appended to `need`. REQUIRES lo to be aligned as the tree's recursion
// produces it.
void subtree_indexes(uint64_t lo, uint64_t hi, std::vector<uint64_t>& need) {
  while (lo < hi) {
    uint64_t k = std::bit_floor(hi - lo);
    int level = std::countr_zero(k);
    need.push_back(stored_hash_index(level, lo >> level));
    lo += k;
  }
}

// Consumes the hashes subtree_indexes(lo, hi) asked for, starting at hashes[pos], and folds them
// into MTH(D[lo:hi]) (the right-most subtree is the deepest).
Hash subtree_hash(uint64_t lo, uint64_t hi, const std::vector<Hash>& hashes, size_t& pos) {
  size_t count = 0;
  for (uint64_t l = lo; l < hi; l += std::bit_floor(hi - l)) ++count;
  size_t first = pos;
  pos += count;
  Hash h = hashes[first + count - 1];
  for (size_t i = count - 1; i-- > 0;) h = node_hash(hashes[first + i], h);
  return h;
}

// PATH(index, D[lo:hi]) as stored-hash indexes, in the order inclusion_hashes consumes them.
void inclusion_indexes(uint64_t lo, uint64_t hi, uint64_t index, std::vector<uint64_t>& need) {
  if (hi - lo == 1) return;
  uint64_t k = split_point(hi - lo);
  if (index < lo + k) {
    inclusion_indexes(lo, lo + k, index, need);
    subtree_indexes(lo + k, hi, need);
  } else {
    subtree_indexes(lo, lo + k, need);
    inclusion_indexes(lo + k, hi, index, need);
  }
}

void inclusion_hashes(uint64_t lo, uint64_t hi, uint64_t index, const std::vector<Hash>& hashes,
                      size_t& pos, Proof& out) {
  if (hi - lo == 1) return;
  uint64_t k = split_point(hi - lo);
  if (index < lo + k) {
    inclusion_hashes(lo, lo + k, index, hashes, pos, out);
    out.push_back(subtree_hash(lo + k, hi, hashes, pos));
  } else {
    Hash left = subtree_hash(lo, lo + k, hashes, pos);
    inclusion_hashes(lo + k, hi, index, hashes, pos, out);
    out.push_back(left);
  }
}

// SUBPROOF(m, D[lo:hi], lo == 0) as stored-hash indexes. REQUIRES lo < m <= hi.
void consistency_indexes(uint64_t lo, uint64_t hi, uint64_t m, std::vector<uint64_t>& need) {
  if (m == hi) {
    if (lo != 0) subtree_indexes(lo, hi, need);
    return;
  }
  uint64_t k = split_point(hi - lo);
  if (m <= lo + k) {
    consistency_indexes(lo, lo + k, m, need);
    subtree_indexes(lo + k, hi, need);
  } else {
    subtree_indexes(lo, lo + k, need);
    consistency_indexes(lo + k, hi, m, need);
  }
}

void consistency_hashes(uint64_t lo, uint64_t hi, uint64_t m, const std::vector<Hash>& hashes,
                        size_t& pos, Proof& out) {
  if (m == hi) {
    if (lo != 0) out.push_back(subtree_hash(lo, hi, hashes, pos));
    return;
  }
  uint64_t k = split_point(hi - lo);
  if (m <= lo + k) {
    consistency_hashes(lo, lo + k, m, hashes, pos, out);
    out.push_back(subtree_hash(lo + k, hi, hashes, pos));
  } else {
    Hash left = subtree_hash(lo, lo + k, hashes, pos);
    consistency_hashes(lo + k, hi, m, hashes, pos, out);
    out.push_back(left);
  }
}

Result<std::vector<Hash>> read_exactly(const HashReader& reader,
                                       const std::vector<uint64_t>& indexes) {
  if (indexes.empty()) return std::vector<Hash>{};
  ASSIGN_OR_RETURN(std::vector<Hash> hashes, reader.read_hashes(indexes));
  if (hashes.size() != indexes.size()) {
    return Internal("merkle: HashReader returned " + std::to_string(hashes.size()) +
                    " hashes for " + std::to_string(indexes.size()) + " indexes");
  }
  return hashes;
}

Status check_size(uint64_t n) {
  if (n > kMaxTreeSize) return bad_argument("tree size " + std::to_string(n) + " is too large");
  return Status::Ok();
}

}  // namespace

Hash leaf_hash(std::string_view data) {
  std::string buf;
  buf.reserve(1 + data.size());
  buf.push_back('\x00');
  buf.append(data);
  return to_hash(sha256(buf));
}

Hash node_hash(const Hash& left, const Hash& right) {
  std::string buf;
  buf.reserve(1 + 2 * 32);
  buf.push_back('\x01');
  buf.append(reinterpret_cast<const char*>(left.data()), left.size());
  buf.append(reinterpret_cast<const char*>(right.data()), right.size());
  return to_hash(sha256(buf));
}

Hash empty_tree_hash() { return to_hash(sha256(std::string_view())); }

std::string hash_hex(const Hash& h) { return hex_encode(hash_bytes(h)); }
Bytes hash_bytes(const Hash& h) { return Bytes(h.begin(), h.end()); }

Result<Hash> hash_from_bytes(const Bytes& b) {
  if (b.size() != 32) return bad_argument("a hash has 32 bytes, not " + std::to_string(b.size()));
  return to_hash(b);
}

uint64_t stored_hash_index(int level, uint64_t k) {
  // The subtree (level, k) completes together with its right-most leaf, (k+1)·2^level - 1, after
  // all stored hashes of the leaves before it and `level` hashes of its own leaf.
  for (int l = level; l > 0; --l) k = 2 * k + 1;
  uint64_t i = 0;
  for (; k > 0; k >>= 1) i += k;
  return i + static_cast<uint64_t>(level);
}

SubtreeId split_stored_hash_index(uint64_t index) {
  // Leaf n's hash is at stored_hash_index(0, n) ≈ 2n; walk forward to the leaf whose run of
  // stored hashes contains `index`.
  uint64_t n = index / 2;
  uint64_t index_n = stored_hash_index(0, n);
  for (;;) {
    uint64_t next = index_n + 1 + static_cast<uint64_t>(std::countr_zero(n + 1));
    if (next > index) break;
    ++n;
    index_n = next;
  }
  int level = static_cast<int>(index - index_n);
  return {level, n >> level};
}

uint64_t stored_hash_count(uint64_t n) {
  if (n == 0) return 0;
  uint64_t count = stored_hash_index(0, n - 1) + 1;
  for (uint64_t i = n - 1; (i & 1) != 0; i >>= 1) ++count;
  return count;
}

Result<std::vector<Hash>> stored_hashes_for_leaves(uint64_t n, std::span<const Hash> leaves,
                                                   const HashReader& reader) {
  RETURN_IF_ERROR(check_size(n));
  if (leaves.size() > kMaxTreeSize - n) return bad_argument("batch makes the tree too large");
  const uint64_t base = stored_hash_count(n);
  // Leaf n+i completes the subtrees (j, ((n+i) >> j)) for j < countr_zero(n+i+1); each needs its
  // left sibling (j, ((n+i) >> j) - 1). Siblings below `base` come from the reader (the old tree's
  // right frontier, at most log2(n)+1 of them), the rest from this batch.
  std::vector<uint64_t> old_indexes;
  for (uint64_t i = 0; i < leaves.size(); ++i) {
    uint64_t cur = n + i;
    int m = std::countr_zero(cur + 1);
    for (int j = 0; j < m; ++j) {
      uint64_t idx = stored_hash_index(j, (cur >> j) - 1);
      if (idx < base) old_indexes.push_back(idx);
    }
  }
  std::sort(old_indexes.begin(), old_indexes.end());
  old_indexes.erase(std::unique(old_indexes.begin(), old_indexes.end()), old_indexes.end());
  ASSIGN_OR_RETURN(std::vector<Hash> old_hashes, read_exactly(reader, old_indexes));
  std::map<uint64_t, Hash> old;
  for (size_t i = 0; i < old_indexes.size(); ++i) old.emplace(old_indexes[i], old_hashes[i]);

  std::vector<Hash> out;
  out.reserve(2 * leaves.size());
  auto at = [&](uint64_t idx) -> const Hash& {
    return idx < base ? old.at(idx) : out[static_cast<size_t>(idx - base)];
  };
  for (uint64_t i = 0; i < leaves.size(); ++i) {
    uint64_t cur = n + i;
    Hash h = leaves[i];
    out.push_back(h);
    int m = std::countr_zero(cur + 1);
    for (int j = 0; j < m; ++j) {
      h = node_hash(at(stored_hash_index(j, (cur >> j) - 1)), h);
      out.push_back(h);
    }
  }
  return out;
}

Result<Hash> tree_hash(uint64_t n, const HashReader& reader) {
  RETURN_IF_ERROR(check_size(n));
  if (n == 0) return empty_tree_hash();
  std::vector<uint64_t> need;
  subtree_indexes(0, n, need);
  ASSIGN_OR_RETURN(std::vector<Hash> hashes, read_exactly(reader, need));
  size_t pos = 0;
  return subtree_hash(0, n, hashes, pos);
}

Result<Proof> inclusion_proof(uint64_t index, uint64_t n, const HashReader& reader) {
  RETURN_IF_ERROR(check_size(n));
  if (index >= n) {
    return bad_argument("leaf index " + std::to_string(index) + " is not in a tree of size " +
                        std::to_string(n));
  }
  std::vector<uint64_t> need;
  inclusion_indexes(0, n, index, need);
  ASSIGN_OR_RETURN(std::vector<Hash> hashes, read_exactly(reader, need));
  Proof proof;
  size_t pos = 0;
  inclusion_hashes(0, n, index, hashes, pos, proof);
  return proof;
}

Result<Proof> consistency_proof(uint64_t m, uint64_t n, const HashReader& reader) {
  RETURN_IF_ERROR(check_size(n));
  if (m > n) {
    return bad_argument("old tree size " + std::to_string(m) + " is larger than new size " +
                        std::to_string(n));
  }
  if (m == 0 || m == n) return Proof{};
  std::vector<uint64_t> need;
  consistency_indexes(0, n, m, need);
  ASSIGN_OR_RETURN(std::vector<Hash> hashes, read_exactly(reader, need));
  Proof proof;
  size_t pos = 0;
  consistency_hashes(0, n, m, hashes, pos, proof);
  return proof;
}

size_t inclusion_proof_size(uint64_t index, uint64_t n) {
  size_t count = 0;
  while (n > 1) {
    uint64_t k = split_point(n);
    if (index < k) {
      n = k;
    } else {
      index -= k;
      n -= k;
    }
    ++count;
  }
  return count;
}

size_t consistency_proof_size(uint64_t m, uint64_t n) {
  if (m == 0 || m >= n) return 0;
  size_t count = 0;
  bool whole = true;  // SUBPROOF's b: still on the left edge of the tree
  while (m != n) {
    uint64_t k = split_point(n);
    if (m <= k) {
      n = k;
    } else {
      m -= k;
      n -= k;
      whole = false;
    }
    ++count;
  }
  return whole ? count : count + 1;
}

Status verify_inclusion(const Hash& leaf, uint64_t index, uint64_t n, std::span<const Hash> proof,
                        const Hash& root) {
  RETURN_IF_ERROR(check_size(n));
  if (index >= n) {
    return bad_argument("leaf index " + std::to_string(index) + " is not in a tree of size " +
                        std::to_string(n));
  }
  size_t want = inclusion_proof_size(index, n);
  if (proof.size() != want) {
    return bad_argument("inclusion proof for leaf " + std::to_string(index) + " of " +
                        std::to_string(n) + " has " + std::to_string(want) + " hashes, not " +
                        std::to_string(proof.size()));
  }
  // RFC 9162 §2.1.3.2, step by step.
  uint64_t fn = index;
  uint64_t sn = n - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return bad_argument("inclusion proof is too long");
    if ((fn & 1) != 0 || fn == sn) {
      r = node_hash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return bad_argument("inclusion proof is too short");
  if (r != root) {
    return mismatch("inclusion proof for leaf " + std::to_string(index) + " of " +
                    std::to_string(n) + " does not lead to the given root");
  }
  return Status::Ok();
}

Status verify_consistency(uint64_t m, uint64_t n, std::span<const Hash> proof, const Hash& root_m,
                          const Hash& root_n) {
  RETURN_IF_ERROR(check_size(n));
  if (m > n) {
    return bad_argument("old tree size " + std::to_string(m) + " is larger than new size " +
                        std::to_string(n));
  }
  size_t want = consistency_proof_size(m, n);
  if (proof.size() != want) {
    return bad_argument("consistency proof from " + std::to_string(m) + " to " +
                        std::to_string(n) + " has " + std::to_string(want) + " hashes, not " +
                        std::to_string(proof.size()));
  }
  if (m == 0) {
    if (root_m != empty_tree_hash()) return mismatch("root of the empty tree is not SHA-256(\"\")");
    return Status::Ok();
  }
  if (m == n) {
    if (root_m != root_n) return mismatch("two roots for the same tree size " + std::to_string(n));
    return Status::Ok();
  }
  // RFC 9162 §2.1.4.2, step by step. Step 2: when m is a power of two the old root is the proof's
  // implicit first element.
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(m)) path.push_back(root_m);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = m - 1;
  uint64_t sn = n - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];
  Hash sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return bad_argument("consistency proof is too long");
    if ((fn & 1) != 0 || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return bad_argument("consistency proof is too short");
  if (fr != root_m) {
    return mismatch("consistency proof from " + std::to_string(m) + " to " + std::to_string(n) +
                    " does not lead to the old root");
  }
  if (sr != root_n) {
    return mismatch("consistency proof from " + std::to_string(m) + " to " + std::to_string(n) +
                    " does not lead to the new root");
  }
  return Status::Ok();
}

Result<std::vector<Hash>> OverlayHashReader::read_hashes(std::span<const uint64_t> indexes) const {
  std::vector<uint64_t> old;
  for (uint64_t i : indexes)
    if (i < base_) old.push_back(i);
  ASSIGN_OR_RETURN(auto old_hashes, stored_.read_hashes(old));
  std::vector<Hash> out;
  out.reserve(indexes.size());
  size_t next_old = 0;
  for (uint64_t i : indexes) {
    if (i < base_) {
      out.push_back(old_hashes[next_old++]);
    } else if (i - base_ < fresh_.size()) {
      out.push_back(fresh_[i - base_]);
    } else {
      return DataLoss("tree hash " + std::to_string(i) + " is not stored", "tree_hash_missing");
    }
  }
  return out;
}

}  // namespace keymgr::db::merkle
