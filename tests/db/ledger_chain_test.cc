// The backend-neutral ledger pieces without any database: the hash encoding, the signed
// checkpoint format, chain linking and verification over an in-memory ChainReader, and group
// commit over a fake CommitFn. The same code runs inside every backend; the conformance suite
// (store_conformance.h) checks it there against real databases.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "db/group_commit.h"
#include "db/ledger_chain.h"
#include "db/ledger_checkpoint.h"
#include "db/ledger_hash.h"
#include "tests/db/test_records.h"

namespace keymgr::db {
namespace {

using testing::sign_entry;

TEST(LedgerHash, EncodingIsLengthPrefixed) {
  LedgerEntry a, b;
  a.kind = "ab";
  a.event = "c";
  b.kind = "a";
  b.event = "bc";
  EXPECT_NE(ledger_canonical_encoding(a), ledger_canonical_encoding(b));
  EXPECT_NE(ledger_entry_hash(ledger_genesis_hash(), a), ledger_entry_hash(ledger_genesis_hash(), b));
  a.seq = 1;
  std::string enc = ledger_canonical_encoding(a);
  EXPECT_EQ(enc.substr(0, 4), std::string("\0\0\0\x10", 4));
  EXPECT_EQ(enc.substr(4, 16), "keymgr-ledger-v1");
  EXPECT_EQ(enc.substr(20, 8), std::string("\0\0\0\0\0\0\0\x01", 8));
}

TEST(LedgerHash, DecodeIsTheStrictInverseOfTheEncoding) {
  LedgerEntry e = sign_entry("kid-1", "jti-1", 1700000000123);
  e.seq = 42;
  e.iat = -5;  // two's complement round-trips
  e.exp = INT64_MAX;
  e.sub = std::string("al\0ice\xff", 8);  // any bytes, as the encoder takes them
  e.detail = R"({"k":"v"})";
  const std::string enc = ledger_canonical_encoding(e);
  auto d = ledger_decode_canonical(enc);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(ledger_canonical_encoding(*d), enc);
  EXPECT_EQ(d->seq, 42);
  EXPECT_EQ(d->iat, -5);
  EXPECT_EQ(d->exp, INT64_MAX);
  EXPECT_EQ(d->sub, e.sub);
  EXPECT_EQ(d->jti, "jti-1");
  EXPECT_EQ(d->token_sha256, e.token_sha256);
  EXPECT_EQ(d->detail, e.detail);
  EXPECT_TRUE(d->prev_hash.empty() && d->hash.empty());
  EXPECT_TRUE(ledger_decode_canonical(ledger_canonical_encoding(LedgerEntry{})).ok());

  auto refused = [](std::string_view in) {
    auto r = ledger_decode_canonical(in);
    return !r.ok() && r.status().reason() == "ledger_encoding_malformed";
  };
  EXPECT_TRUE(refused(""));
  EXPECT_TRUE(refused(enc + "x")) << "trailing bytes";
  for (size_t n = 0; n < enc.size(); ++n) EXPECT_TRUE(refused(enc.substr(0, n))) << "cut at " << n;
  std::string tag = enc;
  tag[4] = 'K';
  EXPECT_TRUE(refused(tag)) << "wrong tag";
  std::string long_len = enc;
  long_len[enc.size() - e.detail.size() - 1] = 0x7f;  // detail's length runs past the end
  EXPECT_TRUE(refused(long_len));
  std::string huge = enc;
  huge[enc.size() - e.detail.size() - 4] = '\xff';  // a length near 4 GiB on a short input
  EXPECT_TRUE(refused(huge));
}

TEST(LedgerCheckpoint, SigningInputIsTheDocumentedText) {
  LedgerCheckpoint cp{5, Bytes{0x0a, 0xff}, 99, "audit-kid", "ES256", Bytes{1, 2, 3}};
  EXPECT_EQ(ledger_checkpoint_signing_input(cp), "keymgr-checkpoint-v1\n5\n0aff\n99");
  // kid, alg and the signature itself are not covered.
  LedgerCheckpoint other = cp;
  other.kid = "x";
  other.alg = "RS256";
  other.signature = {};
  EXPECT_EQ(ledger_checkpoint_signing_input(other), ledger_checkpoint_signing_input(cp));
}

// A ledger held in memory, as a backend would hand it to verify_ledger_chain().
class VectorReader final : public ChainReader {
 public:
  std::vector<LedgerEntry> entries;
  std::vector<LedgerCheckpoint> checkpoints;  // newest first
  std::optional<ChainTail> meta;

  Status scan(int64_t after_seq, const std::function<bool(LedgerEntry&&)>& sink) override {
    for (LedgerEntry e : entries) {
      if (e.seq > after_seq && !sink(std::move(e))) break;
    }
    return Status::Ok();
  }
  Result<std::vector<LedgerCheckpoint>> newest_checkpoints(int n) override {
    return std::vector<LedgerCheckpoint>(checkpoints.begin(),
                                         checkpoints.begin() + std::min<size_t>(checkpoints.size(), n));
  }
  Result<std::optional<Bytes>> entry_hash(int64_t seq) override {
    for (const auto& e : entries) {
      if (e.seq == seq) return std::optional<Bytes>(e.hash);
    }
    return std::optional<Bytes>();
  }
  Result<std::optional<ChainTail>> metadata() override { return meta; }
};

// n entries linked by ChainTail, timestamps 100, 90, 300, 400, ... (one 10 ms step back).
VectorReader linked(int n, ChainTail* tail_out = nullptr) {
  VectorReader r;
  ChainTail tail;
  for (int i = 1; i <= n; ++i) {
    LedgerEntry e = sign_entry("k", "j" + std::to_string(i), i == 2 ? 90 : i * 100);
    tail.link(e);
    r.entries.push_back(e);
  }
  r.meta = tail;
  if (tail_out != nullptr) *tail_out = tail;
  return r;
}

TEST(ChainTail, LinksEntriesAndTracksTheDisorderBound) {
  ChainTail tail;
  VectorReader r = linked(4, &tail);
  EXPECT_EQ(r.entries[0].seq, 1);
  EXPECT_EQ(r.entries[0].prev_hash, ledger_genesis_hash());
  EXPECT_EQ(r.entries[1].prev_hash, r.entries[0].hash);
  EXPECT_EQ(r.entries[3].hash, ledger_entry_hash(r.entries[2].hash, r.entries[3]));
  EXPECT_EQ(tail.seq, 4);
  EXPECT_EQ(tail.hash, r.entries[3].hash);
  EXPECT_EQ(tail.max_ts_ms, 400);
  EXPECT_EQ(tail.ts_disorder_ms, 10);  // entry 2 was 10 ms older than entry 1
  EXPECT_EQ(saturating_sub(INT64_MIN, 1), INT64_MIN);
  EXPECT_EQ(saturating_sub(INT64_MAX, -1), INT64_MAX);
}

TEST(VerifyLedgerChain, IntactAndEmpty) {
  VectorReader r = linked(5);
  auto rep = verify_ledger_chain(r, 5);
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->ok) << rep->problem;
  EXPECT_EQ(rep->entries, 5);
  EXPECT_EQ(rep->head, r.entries[4].hash);
  VectorReader empty;
  rep = verify_ledger_chain(empty, 0);
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->ok) << rep->problem;
  EXPECT_EQ(rep->head, ledger_genesis_hash());
}

TEST(VerifyLedgerChain, NamesEachKindOfDamage) {
  {
    VectorReader r = linked(5);
    r.entries[2].sub = "mallory";
    auto rep = verify_ledger_chain(r, 0);
    ASSERT_TRUE(rep.ok());
    EXPECT_EQ(rep->first_bad_seq, 3);
    EXPECT_EQ(rep->problem, "altered");
  }
  {
    VectorReader r = linked(5);
    r.entries.erase(r.entries.begin() + 1);
    auto rep = verify_ledger_chain(r, 0);
    ASSERT_TRUE(rep.ok());
    EXPECT_EQ(rep->first_bad_seq, 3);
    EXPECT_EQ(rep->problem, "removed (expected seq 2)");
  }
  {
    VectorReader r = linked(5);
    std::swap(r.entries[1].jti, r.entries[3].jti);  // content moved, stored hashes left in place
    std::swap(r.entries[1].sub, r.entries[3].sub);
    std::swap(r.entries[1].ts_ms, r.entries[3].ts_ms);
    auto rep = verify_ledger_chain(r, 0);
    ASSERT_TRUE(rep.ok());
    EXPECT_EQ(rep->first_bad_seq, 2);
    EXPECT_EQ(rep->problem, "reordered (content of seq 2 found at seq 4)");
  }
  {
    VectorReader r = linked(5);
    auto rep = verify_ledger_chain(r, 7);  // this process committed more than the ledger holds
    ASSERT_TRUE(rep.ok());
    EXPECT_EQ(rep->first_bad_seq, 6);
    EXPECT_EQ(rep->problem.rfind("truncated", 0), 0u) << rep->problem;
  }
  {
    VectorReader r = linked(5);
    r.checkpoints = {LedgerCheckpoint{6, Bytes(32, 1), 0, "", "", {}}};
    auto rep = verify_ledger_chain(r, 0);
    ASSERT_TRUE(rep.ok());
    EXPECT_EQ(rep->first_bad_seq, 6);
    EXPECT_EQ(rep->problem, "truncated (checkpoint covers seq 6, ledger ends at 5)");
  }
  {
    VectorReader r = linked(5);
    r.checkpoints = {LedgerCheckpoint{4, Bytes(32, 1), 0, "", "", {}}};
    auto rep = verify_ledger_chain(r, 0);
    ASSERT_TRUE(rep.ok());
    EXPECT_EQ(rep->first_bad_seq, 4);
    EXPECT_EQ(rep->problem.rfind("checkpoint mismatch", 0), 0u) << rep->problem;
  }
  {
    VectorReader r = linked(5);
    r.meta->ts_disorder_ms = 0;  // understates the 10 ms step back
    auto rep = verify_ledger_chain(r, 0);
    ASSERT_TRUE(rep.ok());
    EXPECT_FALSE(rep->ok);
    EXPECT_EQ(rep->problem.rfind("query metadata mismatch", 0), 0u) << rep->problem;
    r.meta.reset();  // a backend without such metadata is not checked for it
    rep = verify_ledger_chain(r, 0);
    ASSERT_TRUE(rep.ok());
    EXPECT_TRUE(rep->ok) << rep->problem;
  }
}

TEST(GroupCommitter, BatchesConcurrentAppendsUpToMaxBatch) {
  std::mutex mu;
  int64_t next_seq = 1;
  size_t largest = 0, batches = 0;
  GroupCommitter gc(8, [&](const std::vector<const LedgerEntry*>& entries, const std::vector<bool>&,
                           std::vector<int64_t>* seqs, std::vector<Status>*) {
    std::lock_guard lk(mu);
    largest = std::max(largest, entries.size());
    ++batches;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a commit takes time: others queue
    for (size_t i = 0; i < entries.size(); ++i) seqs->push_back(next_seq++);
    return Status::Ok();
  });
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      int64_t last = 0;
      for (int i = 0; i < 50; ++i) {
        auto r = gc.append(sign_entry("k", "j", i));
        if (!r.ok() || *r <= last) ++failures;
        if (r.ok()) last = *r;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::lock_guard lk(mu);
  EXPECT_EQ(next_seq, 401);
  EXPECT_LE(largest, 8u);
  EXPECT_GT(largest, 1u);
  EXPECT_LT(batches, 400u);
}

TEST(GroupCommitter, AFailedBatchFailsClosedForEveryCallerAndStopAnswersLaterCalls) {
  GroupCommitter gc(4, [](const std::vector<const LedgerEntry*>&, const std::vector<bool>&, std::vector<int64_t>*,
                          std::vector<Status>*) { return FailedPrecondition("disk on fire", "whatever"); });
  auto r = gc.append(sign_entry("k", "j", 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(r.status().reason(), "ledger_unavailable");
  EXPECT_NE(r.status().message().find("disk on fire"), std::string::npos) << r.status().message();
  gc.stop();
  gc.stop();  // idempotent
  auto after = gc.append(sign_entry("k", "j", 2));
  EXPECT_EQ(after.status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(after.status().reason(), "ledger_unavailable");
}

TEST(GroupCommitter, ARefusedSignatureFailsAloneAndTheRestOfItsBatchCommits) {
  // The backend refuses every admitted entry whose jti is "bad"; the others get their seqs.
  std::mutex mu;
  int64_t next_seq = 1;
  std::vector<std::string> written;
  GroupCommitter gc(64, [&](const std::vector<const LedgerEntry*>& entries, const std::vector<bool>& admit,
                            std::vector<int64_t>* seqs, std::vector<Status>* refusals) {
    std::lock_guard lk(mu);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let a batch form
    for (size_t i = 0; i < entries.size(); ++i) {
      if (admit[i] && entries[i]->jti == "bad") {
        (*refusals)[i] = FailedPrecondition("key 'k' may not sign: it is suspended", "key_not_signing");
        seqs->push_back(0);
        continue;
      }
      written.push_back(entries[i]->jti);
      seqs->push_back(next_seq++);
    }
    return Status::Ok();
  });
  std::vector<std::thread> threads;
  std::atomic<int> good_ok{0}, bad_refused{0}, unadmitted_bad_ok{0}, other{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        const bool bad = (i % 3) == 0;
        const bool admit = (t % 2) == 0;
        auto r = gc.append(sign_entry("k", bad ? "bad" : "good", i), admit);
        if (bad && admit) {
          if (!r.ok() && r.status().code() == ErrorCode::kFailedPrecondition &&
              r.status().reason() == "key_not_signing") {
            ++bad_refused;
          } else {
            ++other;
          }
        } else if (r.ok() && *r > 0) {
          (bad ? unadmitted_bad_ok : good_ok)++;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(bad_refused.load(), 3 * 10);         // admitted "bad" entries: threads 0, 2, 4
  EXPECT_EQ(unadmitted_bad_ok.load(), 3 * 10);   // not admitted: the rule is not applied
  EXPECT_EQ(good_ok.load(), 6 * 20);
  std::lock_guard lk(mu);
  EXPECT_EQ(written.size(), 6u * 20 + 3 * 10);
  EXPECT_EQ(std::count(written.begin(), written.end(), "bad"), 30);
}

}  // namespace
}  // namespace keymgr::db
