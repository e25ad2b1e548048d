// LedgerLog (keymgr/ledger_log.h) on a real SQLite file, with the FakeHsm and with a real SoftHSM2
// token: checkpoints verify with the C2SP verifier (keymgr/tlog_text.h) from the published keys
// alone; audit keys rotate with an overlap over two simulated years; the log never signs a tree
// that does not extend what it signed; and the full audit names each kind of tampering.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <map>
#include <string>

#include "db/ledger_hash.h"
#include "db/merkle.h"
#include "keymgr/audit_service.h"
#include "keymgr/ledger_log.h"
#include "keymgr/tlog_text.h"
#include "tests/keymgr/env.h"
#include "tests/support/sanitizers.h"

namespace keymgr::testing {
namespace {

namespace merkle = db::merkle;
using std::chrono::hours;
using std::chrono::seconds;

void sql(const std::string& path, const std::string& statement) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << statement << ": " << (err ? err : "?");
  sqlite3_free(err);
  sqlite3_close_v2(db);
}

class LedgerLogTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    env_ = std::make_unique<Env>(GetParam());
    ASSERT_TRUE(env_->create("web", Algorithm::kES256, short_policy()));
    opts_.origin = "keymgr.test/ledger";
    // SoftHSM2 leaks inside Ed25519 C_Sign, unsuppressibly under ASan (tests/support/sanitizers.h).
    if (kAsan && GetParam() == Backend::kSoftHsm) opts_.audit_key_alg = "ES256";
    reopen_log();
  }
  void reopen_log() {
    log_.reset();
    log_ = std::make_unique<LedgerLog>(*env_->hsm, *env_->store, env_->clock, opts_);
  }
  std::string db_path() const { return env_->dir + "/keymgr.db"; }

  void sign_n(int n) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(env_->sign("web", {{"sub", "u" + std::to_string(i)}}).ok());
  }
  db::TreeCheckpoint checkpoint_now() {
    EXPECT_TRUE(log_->integrate().ok());
    auto cp = log_->checkpoint();
    EXPECT_TRUE(cp.ok()) << cp.status().to_string();
    return cp.ok() && cp->has_value() ? **cp : db::TreeCheckpoint{};
  }
  tlog::TrustPolicy policy() {
    tlog::TrustPolicy p;
    p.origin = opts_.origin;
    auto keys = log_->keys();
    EXPECT_TRUE(keys.ok());
    for (const auto& k : *keys) p.log_keys.push_back(k.key);
    return p;
  }
  LogReport audit() {
    auto r = log_->verify();
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : LogReport{};
  }

  std::unique_ptr<Env> env_;
  LedgerLogOptions opts_;
  std::unique_ptr<LedgerLog> log_;
};

TEST_P(LedgerLogTest, EveryEntryProvesIntoACheckpointThatVerifiesFromThePublishedKeysAlone) {
  sign_n(6);
  const db::TreeCheckpoint cp = checkpoint_now();
  auto size = env_->store->ledger_size();
  ASSERT_TRUE(size.ok());
  ASSERT_EQ(cp.size, *size);  // every entry so far, lifecycle events included
  auto note = note::parse_note(cp.note);
  ASSERT_TRUE(note.ok()) << note.status().to_string();
  auto verified = tlog::verify_checkpoint(*note, policy());
  ASSERT_TRUE(verified.ok()) << verified.status().to_string();
  EXPECT_EQ(verified->checkpoint.size, static_cast<uint64_t>(cp.size));
  for (int64_t seq = 1; seq <= cp.size; ++seq) {
    auto p = log_->prove_entry(seq);
    ASSERT_TRUE(p.ok()) << seq << ": " << p.status().to_string();
    tlog::InclusionProofFile f{Bytes(p->leaf_data.begin(), p->leaf_data.end()), p->index, p->path, *note};
    auto v = tlog::verify_inclusion_proof(f, policy());
    EXPECT_TRUE(v.ok()) << seq << ": " << v.status().to_string();
    auto decoded = db::ledger_decode_canonical(p->leaf_data);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(decoded->seq, seq);
  }
  // Nothing new: no second checkpoint of the same tree.
  auto again = log_->checkpoint();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  // An entry after the newest checkpoint has no proof yet, and says so.
  sign_n(1);
  ASSERT_TRUE(log_->integrate().ok());
  auto late = log_->prove_entry(cp.size + 1);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().reason(), "not_checkpointed");
  // Consistency from every older size to the newest checkpoint.
  const db::TreeCheckpoint cp2 = checkpoint_now();
  for (int64_t m = 0; m <= cp2.size; ++m) {
    auto c = log_->prove_consistency(m, 0);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    auto old_root = merkle::hash_from_bytes(c->from.root);
    auto new_root = merkle::hash_from_bytes(cp2.root);
    EXPECT_TRUE(merkle::verify_consistency(static_cast<uint64_t>(m), static_cast<uint64_t>(cp2.size), c->path, *old_root,
                                           *new_root)
                    .ok());
  }
  const LogReport rep = audit();
  EXPECT_TRUE(rep.ok()) << rep.problem;
  EXPECT_EQ(rep.checkpoints, 2);
  EXPECT_EQ(rep.checkpoints_checked, 2);
  EXPECT_EQ(rep.consistency_checked, 1);
  // An auditor who pinned the keys out of band: the right ones verify; a key the database does not
  // vouch for (or one slipped into it) does not make anything verify.
  auto pinned = log_->verify(policy().log_keys);
  ASSERT_TRUE(pinned.ok());
  EXPECT_TRUE(pinned->ok()) << pinned->problem;
  auto other = note::parse_verifier_key("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
  ASSERT_TRUE(other.ok());
  auto wrong = log_->verify(std::vector<note::NoteKey>{*other});
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->problem, "checkpoint_unverified");
}

TEST_P(LedgerLogTest, AuditKeysRotateWithAnOverlapOverTwoYearsAndOldCheckpointsStillVerify) {
  opts_.audit_key_lifetime = hours(24 * 365);
  opts_.audit_key_overlap = hours(24 * 30);
  reopen_log();
  std::map<size_t, int> signatures_seen;  // signatures per checkpoint -> count
  for (int day = 0; day < 2 * 365; day += 5) {
    ASSERT_TRUE(env_->store->append_ledger(db::LedgerEntry{.ts_ms = to_unix_millis(env_->clock.now()),
                                                           .kind = "lifecycle",
                                                           .event = "test",
                                                           .keyset = "web",
                                                           .outcome = "ok"})
                    .ok());
    const db::TreeCheckpoint cp = checkpoint_now();
    auto note = note::parse_note(cp.note);
    ASSERT_TRUE(note.ok());
    signatures_seen[note->sigs.size()]++;
    ASSERT_LE(note->sigs.size(), 2u) << "day " << day;
    env_->clock.advance(hours(24 * 5));
  }
  auto keys = log_->keys();
  ASSERT_TRUE(keys.ok());
  // Day 0, ~335 and ~670: three keys; the first two retired a year after they started.
  ASSERT_EQ(keys->size(), 3u);
  for (size_t i = 0; i + 1 < keys->size(); ++i) {
    ASSERT_TRUE((*keys)[i].record.retired_at.has_value());
    EXPECT_GE(*(*keys)[i].record.retired_at - (*keys)[i].record.active_from, 365 * 86400);
    EXPECT_LT(*(*keys)[i].record.retired_at - (*keys)[i].record.active_from, 371 * 86400);
    // The successor started a month before.
    EXPECT_NEAR(static_cast<double>((*keys)[i + 1].record.active_from - (*keys)[i].record.active_from),
                (365 - 30) * 86400.0, 5 * 86400.0);
  }
  EXPECT_FALSE(keys->back().record.retired_at.has_value());
  EXPECT_GT(signatures_seen[2], 0);  // overlap: both keys signed
  EXPECT_GT(signatures_seen[1], 0);
  const LogReport rep = audit();
  EXPECT_TRUE(rep.ok()) << rep.problem;
  EXPECT_EQ(rep.checkpoints_checked, rep.checkpoints);
  EXPECT_EQ(rep.checkpoints, 146);
  // The first checkpoint verifies with the published (now retired) first key alone.
  auto all = env_->store->list_tree_checkpoints(0, 1000);
  ASSERT_TRUE(all.ok());
  auto first = note::parse_note(all->back().note);
  ASSERT_TRUE(first.ok());
  tlog::TrustPolicy p{opts_.origin, {(*keys)[0].key}, {}, 0};
  EXPECT_TRUE(tlog::verify_checkpoint(*first, p).ok());
  // Operator rotation: a new key signs at once, the others retire after the overlap.
  auto fresh = log_->rotate_key();
  ASSERT_TRUE(fresh.ok()) << fresh.status().to_string();
  ASSERT_TRUE(env_->store->append_ledger(db::LedgerEntry{.ts_ms = to_unix_millis(env_->clock.now()), .kind = "lifecycle",
                                                         .event = "test", .keyset = "web", .outcome = "ok"})
                  .ok());
  auto note = note::parse_note(checkpoint_now().note);
  ASSERT_TRUE(note.ok());
  EXPECT_EQ(note->sigs.size(), 2u);
}

TEST_P(LedgerLogTest, WithoutEd25519TheAuditKeyIsEcdsaP256AndItsCheckpointsVerify) {
  // An HSM without Ed25519 (p11-kit remoting refuses CKM_EDDSA): "auto" falls back to ECDSA P-256,
  // signed-note type 0x02. On SoftHSM2 (which has Ed25519) the same is asked for explicitly.
  if (GetParam() == Backend::kFake) {
    env_->fake->set_supported_algorithms({Algorithm::kES256, Algorithm::kES384, Algorithm::kRS256});
  } else {
    opts_.audit_key_alg = "ES256";
  }
  reopen_log();
  sign_n(3);
  const db::TreeCheckpoint cp = checkpoint_now();
  auto keys = log_->keys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].record.alg, "ES256");
  EXPECT_EQ((*keys)[0].key.type, note::SigType::kEcdsa);
  auto note = note::parse_note(cp.note);
  ASSERT_TRUE(note.ok());
  EXPECT_TRUE(tlog::verify_checkpoint(*note, policy()).ok());
  EXPECT_TRUE(audit().ok());
  // Asking for Ed25519 from an HSM that cannot: a clear refusal, not a silent other algorithm.
  if (GetParam() == Backend::kFake) {
    opts_.audit_key_alg = "Ed25519";
    reopen_log();
    auto fresh = log_->rotate_key();
    ASSERT_FALSE(fresh.ok());
    EXPECT_EQ(fresh.status().reason(), "audit_key_unavailable");
  }
}

TEST_P(LedgerLogTest, LagIsReportedAndIsBehindOnlyPastTheBound) {
  // /readyz and the lag metrics read this: entries durable but not yet in the tree, and how long
  // the oldest has waited; "behind" past max(5 s, 5 x integrate_max_delay).
  ASSERT_TRUE(log_->integrate().ok());
  auto none = log_->lag();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->pending, 0);
  EXPECT_FALSE(none->behind);
  sign_n(2);
  env_->clock.advance(seconds(4));
  auto young = log_->lag();
  ASSERT_TRUE(young.ok());
  EXPECT_EQ(young->pending, 2);
  EXPECT_EQ(young->oldest_age, std::chrono::milliseconds(4000));
  EXPECT_FALSE(young->behind);
  env_->clock.advance(seconds(2));
  auto old = log_->lag();
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->behind);
  ASSERT_TRUE(log_->integrate().ok());
  auto caught_up = log_->lag();
  ASSERT_TRUE(caught_up.ok());
  EXPECT_EQ(caught_up->pending, 0);
  EXPECT_FALSE(caught_up->behind);
}

TEST_P(LedgerLogTest, NeverSignsATreeThatDoesNotExtendTheSignedCheckpoint) {
  sign_n(5);
  const db::TreeCheckpoint cp = checkpoint_now();
  // Someone rewrites the stored hash of the newest leaf: the tree built on top of it no longer
  // extends what was signed.
  const uint64_t idx = merkle::stored_hash_index(0, static_cast<uint64_t>(cp.size - 1));
  sql(db_path(), "UPDATE tree_hashes SET hash = zeroblob(32) WHERE idx = " + std::to_string(idx));
  sign_n(3);
  ASSERT_TRUE(log_->integrate().ok());
  auto refused = log_->checkpoint();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kDataLoss);
  EXPECT_EQ(refused.status().reason(), "log_inconsistent");
  auto newest = log_->latest_checkpoint();
  ASSERT_TRUE(newest.ok());
  EXPECT_EQ(newest->size, cp.size);  // nothing new was signed
  EXPECT_EQ(audit().problem, "tree_mismatch");
}

// One tampering per case, on a log with two checkpoints; the audit names it.
struct Tamper {
  const char* name;
  const char* sql;             // %N is replaced by the newest checkpoint's size
  bool chain_breaks;           // the hash chain itself reports it
  const char* log_problem;     // LogReport::problem ("" when only the chain reports)
};

TEST_P(LedgerLogTest, TheAuditNamesEachKindOfTampering) {
  const Tamper cases[] = {
      {"edit an entry", "UPDATE ledger SET sub = 'mallory' WHERE seq = 3", true, "tree_mismatch"},
      {"delete an entry", "DELETE FROM ledger WHERE seq = 4", true, "tree_mismatch"},
      {"reorder two entries",
       "UPDATE ledger SET seq = -1 WHERE seq = 2; UPDATE ledger SET seq = 2 WHERE seq = 3; "
       "UPDATE ledger SET seq = 3 WHERE seq = -1",
       true, "tree_mismatch"},
      {"truncate", "DELETE FROM ledger WHERE seq > 5", true, "tree_mismatch"},
      {"edit a stored tree hash", "UPDATE tree_hashes SET hash = zeroblob(32) WHERE idx = 1", false, "tree_mismatch"},
      {"forge a checkpoint signature",
       "UPDATE tree_checkpoints SET note = replace(note, substr(note, length(note) - 8, 4), 'AAAA') WHERE size = %N",
       false, "checkpoint_bad_signature"},
      {"rewrite a checkpoint's root consistently in the row", "UPDATE tree_checkpoints SET root = zeroblob(32) WHERE size = %N",
       false, "checkpoint_malformed"},
      {"drop the audit keys", "DELETE FROM audit_keys", false, "checkpoint_unverified"},
      {"drop the tree", "DELETE FROM tree_hashes; UPDATE tree_head SET size = 0", false, "checkpoint_beyond_tree"},
  };
  for (const Tamper& t : cases) {
    SCOPED_TRACE(t.name);
    log_.reset();
    env_.reset();  // one SoftHSM2 token at a time
    env_ = std::make_unique<Env>(GetParam());
    ASSERT_TRUE(env_->create("web", Algorithm::kES256, short_policy()));
    reopen_log();
    sign_n(4);
    checkpoint_now();
    sign_n(4);
    const db::TreeCheckpoint cp = checkpoint_now();
    ASSERT_TRUE(audit().ok());
    std::string statement = t.sql;
    if (auto pos = statement.find("%N"); pos != std::string::npos) statement.replace(pos, 2, std::to_string(cp.size));
    sql(db_path(), statement);
    const LogReport rep = audit();
    EXPECT_FALSE(rep.ok());
    EXPECT_EQ(!rep.chain.ok, t.chain_breaks) << rep.chain.problem;
    EXPECT_EQ(rep.problem, t.log_problem) << "chain: " << rep.chain.problem;
  }
}

// The legacy hash-chain checkpoint key is looked up on first use, not at start-up (the lookup lists
// every key of the token), and the answer is kept: NotFound without one, its JWK with one.
TEST_P(LedgerLogTest, TheLegacyCheckpointKeyIsLookedUpOnFirstUse) {
  AuditService none(*env_->hsm, *env_->store, env_->clock);
  auto missing = none.public_jwk();
  EXPECT_EQ(missing.status().reason(), "audit_key_unavailable");
  EXPECT_EQ(none.public_jwk().status().reason(), "audit_key_unavailable");

  auto legacy = env_->hsm->generate_key(Algorithm::kES256, "a0d1", std::string(kAuditKeyLabel));
  ASSERT_TRUE(legacy.ok()) << legacy.status().to_string();
  // The first answer is kept: this service already knows the HSM had no legacy key.
  EXPECT_EQ(none.public_jwk().status().reason(), "audit_key_unavailable");
  AuditService later(*env_->hsm, *env_->store, env_->clock);
  auto jwk = later.public_jwk();
  ASSERT_TRUE(jwk.ok()) << jwk.status().to_string();
  EXPECT_EQ((*jwk)["kty"], "EC");
  EXPECT_EQ((*jwk)["alg"], "ES256");
  EXPECT_EQ((*jwk)["kid"], hsm::jwk_thumbprint(*jwk));
}

INSTANTIATE_TEST_SUITE_P(Backends, LedgerLogTest, ::testing::Values(Backend::kFake, Backend::kSoftHsm), backend_name);

}  // namespace
}  // namespace keymgr::testing
