// The Merkle tree (db/merkle.h) against three independent references: the Certificate Transparency
// test vectors (RFC 6962), a naive recursive MTH/PATH/PROOF written here straight from RFC 9162
// §2.1 (no stored hashes, no shared code but SHA-256), and the Go reference implementation
// golang.org/x/mod/sumdb/tlog (tests/interop/tlog_check.go), which must accept keymgr's roots and
// proofs and produce byte-identical ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "common/encoding.h"
#include "db/merkle.h"
#include "tests/support/go_checker.h"

namespace keymgr::db::merkle {
namespace {

Hash H(std::string_view hex) {
  auto b = hex_decode(hex);
  EXPECT_TRUE(b.has_value()) << hex;
  auto h = hash_from_bytes(b.value_or(Bytes{}));
  EXPECT_TRUE(h.ok()) << hex;
  return h.ok() ? *h : Hash{};
}

// A vector of stored hashes, as a database table would hold them. `limit` makes indexes at or
// above it unreadable, to prove that questions about an older tree size read nothing newer.
class VectorReader : public HashReader {
 public:
  std::vector<Hash> stored;
  uint64_t limit = UINT64_MAX;
  mutable size_t calls = 0;

  Result<std::vector<Hash>> read_hashes(std::span<const uint64_t> indexes) const override {
    ++calls;
    std::vector<Hash> out;
    for (uint64_t i : indexes) {
      if (i >= stored.size() || i >= limit) {
        return NotFound("stored hash " + std::to_string(i) + " not present");
      }
      out.push_back(stored[i]);
    }
    return out;
  }

  void append(std::span<const Hash> leaves) {
    uint64_t n = size();
    auto add = stored_hashes_for_leaves(n, leaves, *this);
    ASSERT_TRUE(add.ok()) << add.status().to_string();
    ASSERT_EQ(stored.size() + add->size(), stored_hash_count(n + leaves.size()));
    stored.insert(stored.end(), add->begin(), add->end());
    leaves_ += leaves.size();
  }
  uint64_t size() const { return leaves_; }

 private:
  uint64_t leaves_ = 0;
};

// ---- The naive reference: RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1 over a vector of leaf hashes. ----

Hash sha(std::string s) {
  Bytes d = sha256(s);
  Hash h{};
  std::copy(d.begin(), d.end(), h.begin());
  return h;
}
Hash naive_node(const Hash& l, const Hash& r) {
  return sha("\x01" + std::string(l.begin(), l.end()) + std::string(r.begin(), r.end()));
}
Hash naive_leaf(const std::string& d) { return sha(std::string(1, '\0') + d); }

// k: the largest power of two smaller than n (n > 1), found by counting, not by bit tricks.
uint64_t naive_k(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

using Leaves = std::vector<Hash>;
Leaves slice(const Leaves& d, uint64_t lo, uint64_t hi) {
  return Leaves(d.begin() + static_cast<ptrdiff_t>(lo), d.begin() + static_cast<ptrdiff_t>(hi));
}

Hash mth(const Leaves& d) {
  if (d.empty()) return sha("");
  if (d.size() == 1) return d[0];
  uint64_t k = naive_k(d.size());
  return naive_node(mth(slice(d, 0, k)), mth(slice(d, k, d.size())));
}

Proof path(uint64_t m, const Leaves& d) {
  if (d.size() <= 1) return {};
  uint64_t k = naive_k(d.size());
  Proof p;
  if (m < k) {
    p = path(m, slice(d, 0, k));
    p.push_back(mth(slice(d, k, d.size())));
  } else {
    p = path(m - k, slice(d, k, d.size()));
    p.push_back(mth(slice(d, 0, k)));
  }
  return p;
}

Proof subproof(uint64_t m, const Leaves& d, bool b) {
  uint64_t n = d.size();
  if (m == n) return b ? Proof{} : Proof{mth(d)};
  uint64_t k = naive_k(n);
  Proof p;
  if (m <= k) {
    p = subproof(m, slice(d, 0, k), b);
    p.push_back(mth(slice(d, k, n)));
  } else {
    p = subproof(m - k, slice(d, k, n), false);
    p.push_back(mth(slice(d, 0, k)));
  }
  return p;
}
Proof naive_consistency(uint64_t m, const Leaves& d) {
  if (m == 0 || m == d.size()) return {};
  return subproof(m, d, true);
}

std::string leaf_data(uint64_t i) { return "entry-" + std::to_string(i * 7919 % 1000); }

// ---- Reference vectors ----

// transparency-dev/merkle testonly: leaves and the roots of sizes 0..8.
const std::vector<std::string> kCtLeaves = {
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f"};
const std::vector<std::string> kCtRoots = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

VectorReader ct_tree() {
  VectorReader r;
  for (const auto& hex : kCtLeaves) {
    Hash l = leaf_hash(*hex_decode(hex));
    r.append(std::span<const Hash>(&l, 1));
  }
  return r;
}

TEST(Merkle, EmptyTreeIsSha256OfNothing) {
  EXPECT_EQ(hash_hex(empty_tree_hash()), kCtRoots[0]);
  VectorReader r;
  auto root = tree_hash(0, r);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(hash_hex(*root), kCtRoots[0]);
  EXPECT_EQ(r.calls, 0u);
}

TEST(Merkle, CertificateTransparencyRoots) {
  VectorReader r = ct_tree();
  for (uint64_t n = 0; n <= 8; ++n) {
    auto root = tree_hash(n, r);
    ASSERT_TRUE(root.ok()) << root.status().to_string();
    EXPECT_EQ(hash_hex(*root), kCtRoots[n]) << "size " << n;
  }
  // The prefixes themselves: leaf("") = root(1), node(leaf(""), leaf("\0")) = root(2).
  EXPECT_EQ(hash_hex(leaf_hash(std::string_view())), kCtRoots[1]);
  EXPECT_EQ(hash_hex(node_hash(leaf_hash(std::string_view()), leaf_hash(std::string(1, '\0')))),
            kCtRoots[2]);
}

TEST(Merkle, CertificateTransparencyProofs) {
  VectorReader r = ct_tree();
  struct Incl {
    uint64_t index, n;
    std::vector<std::string> proof;
  };
  for (const Incl& c : std::vector<Incl>{
           {0, 8,
            {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
           {5, 8,
            {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}}}) {
    auto p = inclusion_proof(c.index, c.n, r);
    ASSERT_TRUE(p.ok());
    std::vector<std::string> got;
    for (const Hash& h : *p) got.push_back(hash_hex(h));
    EXPECT_EQ(got, c.proof) << c.index << " of " << c.n;
    EXPECT_TRUE(verify_inclusion(leaf_hash(*hex_decode(kCtLeaves[c.index])), c.index, c.n, *p,
                                 H(kCtRoots[c.n]))
                    .ok());
  }
  struct Cons {
    uint64_t m, n;
    std::vector<std::string> proof;
  };
  for (const Cons& c : std::vector<Cons>{
           {2, 8,
            {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
           {6, 8,
            {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
           {2, 5,
            {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}}}) {
    auto p = consistency_proof(c.m, c.n, r);
    ASSERT_TRUE(p.ok());
    std::vector<std::string> got;
    for (const Hash& h : *p) got.push_back(hash_hex(h));
    EXPECT_EQ(got, c.proof) << c.m << " -> " << c.n;
    EXPECT_TRUE(verify_consistency(c.m, c.n, *p, H(kCtRoots[c.m]), H(kCtRoots[c.n])).ok());
  }
}

TEST(Merkle, StoredHashIndexRoundTrips) {
  for (uint64_t idx = 0; idx < 5000; ++idx) {
    SubtreeId s = split_stored_hash_index(idx);
    EXPECT_EQ(stored_hash_index(s.level, s.k), idx) << idx;
  }
  // The tree of n leaves stores exactly its 2n - popcount(n) complete subtrees.
  for (uint64_t n = 0; n < 300; ++n) {
    EXPECT_EQ(stored_hash_count(n), 2 * n - static_cast<uint64_t>(std::popcount(n))) << n;
  }
}

TEST(Merkle, BatchesStoreWhatSingleAppendsStore) {
  const uint64_t kN = 150;
  Leaves leaves;
  for (uint64_t i = 0; i < kN; ++i) leaves.push_back(naive_leaf(leaf_data(i)));
  VectorReader one;
  for (const Hash& l : leaves) one.append(std::span<const Hash>(&l, 1));
  for (uint64_t batch : {2u, 3u, 7u, 16u, 33u, 150u}) {
    VectorReader many;
    for (uint64_t lo = 0; lo < kN; lo += batch) {
      uint64_t hi = std::min(kN, lo + batch);
      size_t calls = many.calls;
      many.append(std::span<const Hash>(leaves).subspan(lo, hi - lo));
      EXPECT_LE(many.calls - calls, 1u) << "one read per batch";
    }
    EXPECT_EQ(many.stored, one.stored) << "batch " << batch;
  }
  // Every stored hash is the MTH of its subtree.
  for (uint64_t idx = 0; idx < one.stored.size(); ++idx) {
    SubtreeId s = split_stored_hash_index(idx);
    uint64_t lo = s.k << s.level;
    EXPECT_EQ(one.stored[idx], mth(slice(leaves, lo, lo + (uint64_t{1} << s.level)))) << idx;
  }
}

// Every n up to 70, every index and every older size: the same proofs as the naive RFC functions,
// all of them verify, and every way of breaking one is refused.
TEST(Merkle, AgreesWithNaiveRfcAndRejectsEveryTamper) {
  const uint64_t kMax = 70;
  Leaves leaves;
  VectorReader r;
  for (uint64_t i = 0; i < kMax; ++i) {
    leaves.push_back(naive_leaf(leaf_data(i)));
    ASSERT_EQ(leaf_hash(leaf_data(i)), leaves.back());
    r.append(std::span<const Hash>(&leaves.back(), 1));
  }
  std::vector<Hash> roots;
  for (uint64_t n = 0; n <= kMax; ++n) roots.push_back(mth(slice(leaves, 0, n)));

  auto flipped = [](Proof p, size_t i, int bit) {
    p[i][static_cast<size_t>(bit) % 32] ^= static_cast<uint8_t>(1u << (bit % 8));
    return p;
  };

  for (uint64_t n = 1; n <= kMax; ++n) {
    r.limit = stored_hash_count(n);  // a question about size n reads nothing newer
    auto root = tree_hash(n, r);
    ASSERT_TRUE(root.ok()) << root.status().to_string();
    ASSERT_EQ(*root, roots[n]) << n;

    for (uint64_t i = 0; i < n; ++i) {
      SCOPED_TRACE("inclusion " + std::to_string(i) + " of " + std::to_string(n));
      auto p = inclusion_proof(i, n, r);
      ASSERT_TRUE(p.ok()) << p.status().to_string();
      ASSERT_EQ(*p, path(i, slice(leaves, 0, n)));
      ASSERT_EQ(p->size(), inclusion_proof_size(i, n));
      ASSERT_TRUE(verify_inclusion(leaves[i], i, n, *p, roots[n]).ok());

      for (size_t e = 0; e < p->size(); ++e) {
        for (int bit : {0, 77, 255}) {
          EXPECT_FALSE(verify_inclusion(leaves[i], i, n, flipped(*p, e, bit), roots[n]).ok());
        }
      }
      EXPECT_FALSE(verify_inclusion(leaves[(i + 1) % kMax], i, n, *p, roots[n]).ok());
      if (i + 1 < n) {
        EXPECT_FALSE(verify_inclusion(leaves[i], i + 1, n, *p, roots[n]).ok());
      }
      if (i > 0) {
        EXPECT_FALSE(verify_inclusion(leaves[i], i - 1, n, *p, roots[n]).ok());
      }
      Status st = verify_inclusion(leaves[i], n, n, *p, roots[n]);
      EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << st.to_string();
      // The proof presented as one for a bigger or smaller tree, against that tree's real root.
      if (n < kMax) {
        EXPECT_FALSE(verify_inclusion(leaves[i], i, n + 1, *p, roots[n + 1]).ok());
      }
      if (i < n - 1) {
        EXPECT_FALSE(verify_inclusion(leaves[i], i, n - 1, *p, roots[n - 1]).ok());
      }
      Proof longer = *p;
      longer.push_back(roots[n]);
      st = verify_inclusion(leaves[i], i, n, longer, roots[n]);
      EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << st.to_string();
      if (!p->empty()) {
        Proof shorter(p->begin(), p->end() - 1);
        st = verify_inclusion(leaves[i], i, n, shorter, roots[n]);
        EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << st.to_string();
        st = verify_inclusion(leaves[i], i, n, *p, roots[n - 1]);
        EXPECT_EQ(st.code(), ErrorCode::kDataLoss) << st.to_string();
      }
    }

    for (uint64_t m = 0; m <= n; ++m) {
      SCOPED_TRACE("consistency " + std::to_string(m) + " -> " + std::to_string(n));
      auto p = consistency_proof(m, n, r);
      ASSERT_TRUE(p.ok()) << p.status().to_string();
      ASSERT_EQ(*p, naive_consistency(m, slice(leaves, 0, n)));
      ASSERT_EQ(p->size(), consistency_proof_size(m, n));
      ASSERT_TRUE(verify_consistency(m, n, *p, roots[m], roots[n]).ok());

      for (size_t e = 0; e < p->size(); ++e) {
        for (int bit : {0, 77, 255}) {
          EXPECT_FALSE(verify_consistency(m, n, flipped(*p, e, bit), roots[m], roots[n]).ok());
        }
      }
      // A forked old tree (another last leaf) and a forked new tree are both refused.
      if (m > 0) {
        Leaves fork = slice(leaves, 0, m);
        fork.back() = naive_leaf("forged");
        EXPECT_FALSE(verify_consistency(m, n, *p, mth(fork), roots[n]).ok());
      }
      if (m > 0 && m < n) {  // (every tree extends the empty one)
        Leaves fork = slice(leaves, 0, n);
        fork.back() = naive_leaf("forged");
        EXPECT_FALSE(verify_consistency(m, n, *p, roots[m], mth(fork)).ok());
      }
      // Wrong sizes, with the real roots of those sizes.
      if (m > 0 && m < n && m + 1 < n) {
        EXPECT_FALSE(verify_consistency(m + 1, n, *p, roots[m + 1], roots[n]).ok());
      }
      if (m > 1 && m < n) {
        EXPECT_FALSE(verify_consistency(m - 1, n, *p, roots[m - 1], roots[n]).ok());
      }
      if (m > 0 && n < kMax) {
        EXPECT_FALSE(verify_consistency(m, n + 1, *p, roots[m], roots[n + 1]).ok());
      }
      Proof longer = *p;
      longer.push_back(roots[n]);
      Status st = verify_consistency(m, n, longer, roots[m], roots[n]);
      EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << st.to_string();
      if (!p->empty()) {
        Proof shorter(p->begin(), p->end() - 1);
        st = verify_consistency(m, n, shorter, roots[m], roots[n]);
        EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << st.to_string();
      }
    }
  }
}

TEST(Merkle, BadSizesAreInvalidArgument) {
  VectorReader r;
  Leaves leaves;
  for (uint64_t i = 0; i < 5; ++i) leaves.push_back(leaf_hash(leaf_data(i)));
  r.append(leaves);
  Hash root = *tree_hash(5, r);
  EXPECT_EQ(inclusion_proof(5, 5, r).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(inclusion_proof(0, 0, r).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(consistency_proof(6, 5, r).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(verify_inclusion(leaves[0], 0, 0, {}, root).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(verify_consistency(6, 5, {}, root, root).code(), ErrorCode::kInvalidArgument);
  Status st = verify_inclusion(leaves[0], 7, 5, {}, root);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(st.reason(), "merkle_bad_argument");
  EXPECT_NE(st.message().find("leaf index 7"), std::string::npos) << st.message();
  EXPECT_EQ(tree_hash(kMaxTreeSize + 1, r).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(hash_from_bytes(Bytes(31)).status().code(), ErrorCode::kInvalidArgument);
  // The same size twice: empty proof, equal roots. From the empty tree: empty proof.
  EXPECT_TRUE(verify_consistency(5, 5, {}, root, root).ok());
  EXPECT_EQ(verify_consistency(5, 5, {}, root, leaves[0]).code(), ErrorCode::kDataLoss);
  EXPECT_TRUE(verify_consistency(0, 5, {}, empty_tree_hash(), root).ok());
  EXPECT_FALSE(verify_consistency(0, 5, {}, root, root).ok());
  // Beyond the stored tree: the reader's NotFound is passed on, no hash is invented.
  EXPECT_EQ(tree_hash(6, r).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(inclusion_proof(0, 6, r).status().code(), ErrorCode::kNotFound);
}

// ---- The Go reference implementation ----

std::string proof_text(const Proof& p) {
  std::string s;
  for (const Hash& h : p) s += " " + hash_hex(h);
  return s;
}

TEST(MerkleInterop, GoReferenceAgrees) {
  namespace fs = std::filesystem;
  if (std::string missing = keymgr::testing::go_missing("sumdb/tlog/tlog.go"); !missing.empty()) FAIL() << missing;
  std::string tool_path, build_log;
  ASSERT_TRUE(keymgr::testing::build_go_checker("tlog_check", KEYMGR_MERKLE_SOURCE_DIR, KEYMGR_MERKLE_BINARY_DIR,
                                                &tool_path, &build_log))
      << "go build of tests/interop/tlog_check.go failed:\n" << build_log;
  const fs::path tool = tool_path;
  const fs::path dir = tool.parent_path();

  // One tree of 40 leaves (with empty and binary data); questions about every size 1..40.
  const uint64_t kMax = 40;
  VectorReader r;
  std::ostringstream in;
  std::vector<std::string> expect;  // "ok" or "fail"
  std::vector<std::string> what;
  for (uint64_t i = 0; i < kMax; ++i) {
    std::string data = i == 0 ? std::string() : leaf_data(i) + std::string(1, static_cast<char>(i));
    Hash l = leaf_hash(data);
    r.append(std::span<const Hash>(&l, 1));
    in << "leaf " << hex_encode(to_bytes(data)) << "\n";
    expect.push_back("ok");
    what.push_back("leaf " + std::to_string(i));
  }
  auto ask = [&](const std::string& line, bool ok) {
    in << line << "\n";
    expect.push_back(ok ? "ok" : "fail");
    what.push_back(line);
  };
  for (uint64_t n = 1; n <= kMax; ++n) {
    Hash root = *tree_hash(n, r);
    ask("root " + std::to_string(n) + " " + hash_hex(root), true);
    for (uint64_t i = 0; i < n; ++i) {
      auto p = inclusion_proof(i, n, r);
      ASSERT_TRUE(p.ok());
      ask("incl " + std::to_string(n) + " " + std::to_string(i) + proof_text(*p), true);
    }
    for (uint64_t m = 1; m <= n; ++m) {
      auto p = consistency_proof(m, n, r);
      ASSERT_TRUE(p.ok());
      ask("cons " + std::to_string(m) + " " + std::to_string(n) + proof_text(*p), true);
    }
  }
  // The checker is not a rubber stamp: a wrong root, a flipped bit in a proof, a proof for
  // another leaf and a truncated consistency proof are all refused.
  Hash bad_root = *tree_hash(17, r);
  bad_root[3] ^= 0x10;
  ask("root 17 " + hash_hex(bad_root), false);
  Proof bad = *inclusion_proof(11, 37, r);
  bad[2][0] ^= 0x01;
  ask("incl 37 11" + proof_text(bad), false);
  ask("incl 37 12" + proof_text(*inclusion_proof(11, 37, r)), false);
  Proof cut = *consistency_proof(13, 29, r);
  cut.pop_back();
  ask("cons 13 29" + proof_text(cut), false);

  const fs::path input = dir / "tlog_check.in";
  {
    std::ofstream f(input);
    f << in.str();
  }
  std::string out;
  const int rc = keymgr::testing::run_command("'" + tool.string() + "' < '" + input.string() + "'", &out);
  ASSERT_EQ(rc, 0) << out;
  std::istringstream lines(out);
  std::string line;
  size_t i = 0;
  for (; std::getline(lines, line); ++i) {
    ASSERT_LT(i, expect.size()) << "extra output: " << line;
    std::string verdict = line.substr(0, line.find(':'));
    EXPECT_EQ(verdict, expect[i]) << what[i] << "\n  tlog: " << line;
  }
  EXPECT_EQ(i, expect.size()) << "tlog_check answered " << i << " of " << expect.size();
}

}  // namespace
}  // namespace keymgr::db::merkle
