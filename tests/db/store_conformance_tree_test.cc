// The store conformance suite, part 3: the Merkle tree over the ledger, signed tree checkpoints,
// cosignatures and audit keys (db/store.h). Roots and proofs are checked against a naive RFC 9162
// MTH computed here from the entries themselves, not against the store's own stored hashes.
// Runs against every backend (see store_conformance.h).
#include <thread>
#include <vector>

#include "common/crypto.h"
#include "db/ledger_hash.h"
#include "db/merkle.h"
#include "tests/db/store_conformance.h"
#include "tests/db/test_records.h"

namespace keymgr::db::testing {
namespace {

using merkle::Hash;

// RFC 9162 §2.1.1, recursively, over leaf hashes.
Hash naive_mth(const std::vector<Hash>& leaves, size_t lo, size_t hi) {
  if (hi - lo == 1) return leaves[lo];
  size_t k = 1;
  while (k * 2 < hi - lo) k *= 2;
  return merkle::node_hash(naive_mth(leaves, lo, lo + k), naive_mth(leaves, lo + k, hi));
}
Hash naive_root(const std::vector<Hash>& leaves, size_t n) {
  return n == 0 ? merkle::empty_tree_hash() : naive_mth(leaves, 0, n);
}

std::vector<Hash> leaves_of(Store& s) {
  std::vector<Hash> out;
  EXPECT_TRUE(s.scan_ledger(1, INT64_MAX, [&](const LedgerEntry& e) {
                 EXPECT_EQ(e.seq, static_cast<int64_t>(out.size()) + 1);
                 out.push_back(merkle::leaf_hash(ledger_canonical_encoding(e)));
                 return true;
               }).ok());
  return out;
}

void append(Store& s, int n, int start) {
  for (int i = 0; i < n; ++i) {
    auto seq = s.append_ledger(sign_entry("k", "t" + std::to_string(start + i), 1000 + start + i));
    ASSERT_TRUE(seq.ok()) << seq.status().to_string();
  }
  settle(s);
}

TEST_P(StoreConformance, EmptyTreeHasTheEmptyRoot) {
  auto s = open();
  ASSERT_TRUE(s);
  auto head = s->integrate_tree(100);
  ASSERT_TRUE(head.ok()) << head.status().to_string();
  EXPECT_EQ(head->size, 0);
  EXPECT_EQ(head->root, merkle::hash_bytes(merkle::empty_tree_hash()));
}

TEST_P(StoreConformance, IntegrationInBatchesMatchesTheNaiveTreeAndProvesEveryLeaf) {
  auto s = open();
  ASSERT_TRUE(s);
  append(*s, 37, 0);
  std::vector<int64_t> sizes;
  for (;;) {
    auto head = s->integrate_tree(5);
    ASSERT_TRUE(head.ok()) << head.status().to_string();
    if (!sizes.empty() && head->size == sizes.back()) break;
    sizes.push_back(head->size);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{5, 10, 15, 20, 25, 30, 35, 37}));
  const auto leaves = leaves_of(*s);
  ASSERT_EQ(leaves.size(), 37u);
  auto head = s->tree_head();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size, 37);
  EXPECT_EQ(head->root, merkle::hash_bytes(naive_root(leaves, 37)));
  EXPECT_GT(head->integrated_at_ms, 0);

  // Exactly the stored hashes of a 37-leaf tree, nothing more.
  uint64_t rows = 0;
  ASSERT_TRUE(s->scan_tree_hashes(0, [&](uint64_t idx, const Bytes& h) {
                 EXPECT_EQ(idx, rows);
                 EXPECT_EQ(h.size(), 32u);
                 ++rows;
                 return true;
               }).ok());
  EXPECT_EQ(rows, merkle::stored_hash_count(37));

  StoreTreeReader reader(*s);
  for (uint64_t n : {1u, 2u, 5u, 16u, 37u}) {
    auto root = merkle::tree_hash(n, reader);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(*root, naive_root(leaves, n)) << n;
    for (uint64_t i = 0; i < n; ++i) {
      auto proof = merkle::inclusion_proof(i, n, reader);
      ASSERT_TRUE(proof.ok()) << proof.status().to_string();
      EXPECT_TRUE(merkle::verify_inclusion(leaves[i], i, n, *proof, naive_root(leaves, n)).ok()) << i << "/" << n;
    }
    for (uint64_t m = 0; m <= n; ++m) {
      auto proof = merkle::consistency_proof(m, n, reader);
      ASSERT_TRUE(proof.ok());
      EXPECT_TRUE(merkle::verify_consistency(m, n, *proof, naive_root(leaves, m), naive_root(leaves, n)).ok());
    }
  }
  // Past the tree: an error, never a made-up hash.
  uint64_t beyond[] = {merkle::stored_hash_count(37)};
  auto missing = s->read_tree_hashes(beyond);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().reason(), "tree_hash_missing");
}

TEST_P(StoreConformance, TreeSurvivesRestartAndGrowsFromWhereItWas) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    append(*s, 9, 0);
    ASSERT_TRUE(s->integrate_tree(1000).ok());
    append(*s, 4, 9);  // durable, not integrated
  }
  auto s = open();
  ASSERT_TRUE(s);
  auto head = s->tree_head();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size, 9);
  head = s->integrate_tree(1000);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size, 13);
  EXPECT_EQ(head->root, merkle::hash_bytes(naive_root(leaves_of(*s), 13)));
}

// Backends read and write a large integration in chunks (PostgreSQL: 5,000 entries per read, a
// few hundred hashes per insert); the chunk edges must neither drop nor repeat an entry.
TEST_P(StoreConformance, LargeIntegrationAcrossChunkEdgesMatchesTheNaiveTree) {
  auto s = open();
  ASSERT_TRUE(s);
  ChangeSet cs;
  for (int i = 0; i < 12345; ++i) cs.ledger.push_back(sign_entry("k", "big" + std::to_string(i), i));
  ASSERT_TRUE(s->apply(cs).ok());
  auto head = s->integrate_tree(7000);  // not a multiple of any chunk size
  ASSERT_TRUE(head.ok()) << head.status().to_string();
  EXPECT_EQ(head->size, 7000);
  head = s->integrate_tree(1 << 20);
  ASSERT_TRUE(head.ok()) << head.status().to_string();
  EXPECT_EQ(head->size, 12345);
  const auto leaves = leaves_of(*s);
  ASSERT_EQ(leaves.size(), 12345u);
  EXPECT_EQ(head->root, merkle::hash_bytes(naive_root(leaves, 12345)));
  auto proof = merkle::inclusion_proof(5000, 12345, StoreTreeReader(*s));
  ASSERT_TRUE(proof.ok()) << proof.status().to_string();
  EXPECT_TRUE(merkle::verify_inclusion(leaves[5000], 5000, 12345, *proof, naive_root(leaves, 12345)).ok());
}

TEST_P(StoreConformance, ConcurrentIntegratorsOnOneDatabaseBuildOneTree) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  std::thread writer([&] { append(*a, 300, 0); });
  auto integrate = [](Store* s) {
    for (int i = 0; i < 200; ++i) {
      auto h = s->integrate_tree(7);
      ASSERT_TRUE(h.ok()) << h.status().to_string();
    }
  };
  std::thread ia(integrate, a.get());
  std::thread ib(integrate, b.get());
  writer.join();
  ia.join();
  ib.join();
  ASSERT_TRUE(a->integrate_tree(1000).ok());
  auto head = b->tree_head();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size, 300);
  EXPECT_EQ(head->root, merkle::hash_bytes(naive_root(leaves_of(*a), 300)));
  uint64_t rows = 0;
  ASSERT_TRUE(a->scan_tree_hashes(0, [&](uint64_t, const Bytes&) { return ++rows, true; }).ok());
  EXPECT_EQ(rows, merkle::stored_hash_count(300));
}

TEST_P(StoreConformance, AnEntryTheChainDoesNotVouchForIsNeverIntegrated) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    append(*s, 8, 0);
  }
  backend().exec_sql("UPDATE ledger SET sub = 'mallory' WHERE seq = 5");
  auto s = open();
  ASSERT_TRUE(s);
  auto head = s->integrate_tree(100);
  ASSERT_TRUE(head.ok()) << head.status().to_string();
  EXPECT_EQ(head->size, 4);  // the good prefix
  auto again = s->integrate_tree(100);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), ErrorCode::kDataLoss);
  EXPECT_EQ(again.status().reason(), "ledger_altered");
  EXPECT_NE(again.status().message().find("5"), std::string::npos) << again.status().message();
  EXPECT_EQ(s->tree_head()->size, 4);
}

TEST_P(StoreConformance, TreeCheckpointsMustMatchTheTreeAndGrow) {
  auto s = open();
  ASSERT_TRUE(s);
  append(*s, 10, 0);
  ASSERT_TRUE(s->integrate_tree(1000).ok());
  const auto leaves = leaves_of(*s);
  auto cp = [&](int64_t size, std::string note) {
    return TreeCheckpoint{size, merkle::hash_bytes(naive_root(leaves, static_cast<size_t>(size))), 5000 + size,
                          std::move(note)};
  };
  auto none = s->tree_checkpoint_at_most(100);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().reason(), "no_checkpoint");

  TreeCheckpoint wrong = cp(6, "x");
  wrong.root[0] ^= 1;
  EXPECT_EQ(s->add_tree_checkpoint(wrong).reason(), "checkpoint_mismatch");
  EXPECT_EQ(s->add_tree_checkpoint(cp(11, "x")).reason(), "checkpoint_mismatch");  // beyond the tree
  ASSERT_TRUE(s->add_tree_checkpoint(cp(6, "note six\n")).ok());
  EXPECT_EQ(s->add_tree_checkpoint(cp(6, "again")).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(s->add_tree_checkpoint(cp(3, "older")).reason(), "checkpoint_not_newer");
  ASSERT_TRUE(s->add_tree_checkpoint(cp(10, "note ten\n")).ok());
  ASSERT_TRUE(s->add_tree_checkpoint(cp(0, "")).code() == ErrorCode::kFailedPrecondition);

  auto at = s->tree_checkpoint_at_most(9);
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(at->size, 6);
  EXPECT_EQ(at->note, "note six\n");
  EXPECT_EQ(at->ts_ms, 5006);
  EXPECT_EQ(s->tree_checkpoint_at_most(10)->size, 10);
  auto all = s->list_tree_checkpoints(0, 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].size, 10);
  EXPECT_EQ((*all)[1].size, 6);
  auto older = s->list_tree_checkpoints(10, 10);
  ASSERT_TRUE(older.ok());
  ASSERT_EQ(older->size(), 1u);
  EXPECT_EQ((*older)[0].size, 6);

  // Cosignatures: one per witness and checkpoint, the newest wins.
  ASSERT_TRUE(s->add_cosignature({10, "w.example/a", "— w.example/a AAAA\n", 1}).ok());
  ASSERT_TRUE(s->add_cosignature({10, "w.example/b", "— w.example/b BBBB\n", 2}).ok());
  ASSERT_TRUE(s->add_cosignature({10, "w.example/a", "— w.example/a CCCC\n", 3}).ok());
  auto cos = s->list_cosignatures(10);
  ASSERT_TRUE(cos.ok());
  ASSERT_EQ(cos->size(), 2u);
  EXPECT_EQ((*cos)[0].signature_line, "— w.example/a CCCC\n");
  EXPECT_EQ((*cos)[0].received_at_ms, 3);
  EXPECT_TRUE(s->list_cosignatures(6)->empty());
}

TEST_P(StoreConformance, AuditKeysAreKeptForeverWithTheirValidity) {
  auto s = open();
  ASSERT_TRUE(s);
  AuditKeyRecord k1{"log.example+01020304+AQ==", "aa", "Ed25519", 100, 100, std::nullopt};
  AuditKeyRecord k2{"log.example+05060708+AQI=", "bb", "Ed25519", 200, 250, std::nullopt};
  ASSERT_TRUE(s->add_audit_key(k1).ok());
  ASSERT_TRUE(s->add_audit_key(k2).ok());
  EXPECT_EQ(s->add_audit_key(k1).code(), ErrorCode::kAlreadyExists);
  ASSERT_TRUE(s->retire_audit_key(k1.verifier_key, 300).ok());
  EXPECT_EQ(s->retire_audit_key("nope", 300).code(), ErrorCode::kNotFound);
  auto keys = s->list_audit_keys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].verifier_key, k1.verifier_key);
  EXPECT_EQ((*keys)[0].retired_at, 300);
  EXPECT_EQ((*keys)[0].hsm_id, "aa");
  EXPECT_EQ((*keys)[1].active_from, 250);
  EXPECT_FALSE((*keys)[1].retired_at.has_value());
}

}  // namespace
}  // namespace keymgr::db::testing
