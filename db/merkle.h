// The RFC 6962 / RFC 9162 Merkle tree (the hash of a Certificate Transparency log and of the Go
// checksum database) as small pure functions over a HashReader. Storage is the caller's job: the
// same code serves a database table, tiles on disk or a test's vector. Shaped like
// golang.org/x/mod/sumdb/tlog, and checked against it (tests/interop/tlog_check.go).
//
//   leaf_hash(d)    = SHA-256(0x00 ‖ d)
//   node_hash(l, r) = SHA-256(0x01 ‖ l ‖ r)
//   MTH({})         = SHA-256("")            (tlog returns 32 zero bytes here; RFC 9162 does not)
//
// Storage layout ("stored hashes", tlog's indexing): every complete subtree of the tree gets one
// hash, numbered in the order the subtrees complete as leaves are appended. The subtree at
// (level L, index k) covers leaves [k·2^L, (k+1)·2^L) and lives at stored_hash_index(L, k). A tree
// of n leaves has stored_hash_count(n) hashes at indexes [0, stored_hash_count(n)); appending
// leaves only appends hashes (stored_hashes_for_leaves), never rewrites one. Any root, inclusion
// proof or consistency proof then needs O(log n) stored hashes, fetched in one read_hashes call.
//
// Proofs are in RFC 9162 order (leaf to root) and byte-identical to tlog's RecordProof/TreeProof.
//
// Errors: sizes that cannot be (index >= n, m > n, n > kMaxTreeSize) and proofs of the wrong length
// are InvalidArgument (reason "merkle_bad_argument"); a well-formed proof that does not lead to the
// given root is DataLoss (reason "merkle_proof_mismatch"); a HashReader's own error is passed on
// unchanged. Nothing throws.
//
// Thread-safety: every function touches only its arguments; concurrent calls are safe as long as
// the HashReader's read_hashes is.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/encoding.h"
#include "common/status.h"

namespace keymgr::db::merkle {

using Hash = std::array<uint8_t, 32>;
using Proof = std::vector<Hash>;

// Trees larger than this are refused, so that stored-hash indexes (about 2n) never overflow.
inline constexpr uint64_t kMaxTreeSize = uint64_t{1} << 62;

Hash leaf_hash(std::string_view data);
inline Hash leaf_hash(const Bytes& data) {
  return leaf_hash(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
}
Hash node_hash(const Hash& left, const Hash& right);
// MTH of the empty tree: SHA-256 of the empty string.
Hash empty_tree_hash();

std::string hash_hex(const Hash& h);
Bytes hash_bytes(const Hash& h);
// REQUIRES nothing: a value that is not exactly 32 bytes is InvalidArgument.
Result<Hash> hash_from_bytes(const Bytes& b);

// Where the hash of the complete subtree (level, k) is stored. REQUIRES (k+1)·2^level <= kMaxTreeSize.
uint64_t stored_hash_index(int level, uint64_t k);
// Inverse of stored_hash_index: {level, k}.
struct SubtreeId {
  int level = 0;
  uint64_t k = 0;
};
SubtreeId split_stored_hash_index(uint64_t index);
// How many hashes a tree of n leaves stores. REQUIRES n <= kMaxTreeSize.
uint64_t stored_hash_count(uint64_t n);

// Storage seen by the tree functions. Implementations: a table keyed by stored-hash index, a tile
// cache, a test's vector. Every call asks only for indexes below stored_hash_count(n) of the tree
// size the caller passed, in one batch.
class HashReader {
 public:
  virtual ~HashReader() = default;
  // Returns the hashes at `indexes`, in the same order and as many. An index that is not stored is
  // an error (NotFound or DataLoss), never a made-up hash.
  virtual Result<std::vector<Hash>> read_hashes(std::span<const uint64_t> indexes) const = 0;
};

// Hashes below `base` from `stored`, those at base.. from `fresh` (computed, not yet written): the
// tree as it will be once `fresh` is stored. Holds references.
class OverlayHashReader final : public HashReader {
 public:
  OverlayHashReader(const HashReader& stored, uint64_t base, const std::vector<Hash>& fresh)
      : stored_(stored), base_(base), fresh_(fresh) {}
  Result<std::vector<Hash>> read_hashes(std::span<const uint64_t> indexes) const override;

 private:
  const HashReader& stored_;
  uint64_t base_;
  const std::vector<Hash>& fresh_;
};

// The hashes to store when `leaves` (leaf hashes, in order) are appended to a tree of n leaves
// whose hashes `reader` holds: exactly the hashes for indexes [stored_hash_count(n),
// stored_hash_count(n + leaves.size())), in that order — about two per leaf. Reads at most
// log2(n) + 1 old hashes, in one call. Write them in the same transaction as whatever records the
// new size. (tlog's StoredHashes, for a batch.)
Result<std::vector<Hash>> stored_hashes_for_leaves(uint64_t n, std::span<const Hash> leaves,
                                                   const HashReader& reader);

// MTH of the first n leaves (n <= the size the reader holds). n == 0: empty_tree_hash().
Result<Hash> tree_hash(uint64_t n, const HashReader& reader);

// PATH(index, D[0:n]) of RFC 9162 §2.1.3.1. REQUIRES index < n.
Result<Proof> inclusion_proof(uint64_t index, uint64_t n, const HashReader& reader);

// PROOF(m, D[0:n]) of RFC 9162 §2.1.4.1. REQUIRES m <= n. Empty when m == 0 or m == n.
Result<Proof> consistency_proof(uint64_t m, uint64_t n, const HashReader& reader);

// The number of hashes a correct proof has (what the verifiers require before hashing).
// REQUIRES index < n, resp. m <= n.
size_t inclusion_proof_size(uint64_t index, uint64_t n);
size_t consistency_proof_size(uint64_t m, uint64_t n);

// RFC 9162 §2.1.3.2: does `proof` show that the leaf with hash `leaf` is leaf number `index` of the
// tree of size n with root `root`? Ok, or why not.
Status verify_inclusion(const Hash& leaf, uint64_t index, uint64_t n, std::span<const Hash> proof,
                        const Hash& root);

// RFC 9162 §2.1.4.2: is the tree of size m with root root_m a prefix of the tree of size n with
// root root_n? m == n: proof empty and roots equal. m == 0: proof empty and root_m the empty-tree
// hash (every tree extends the empty one).
Status verify_consistency(uint64_t m, uint64_t n, std::span<const Hash> proof, const Hash& root_m,
                          const Hash& root_n);

}  // namespace keymgr::db::merkle
