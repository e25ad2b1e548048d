// Store behaviour on real SQLite files: schema, keysets/keys, change-set atomicity, ledger queries,
// API tokens, durability across reopen.
#include <sys/stat.h>

#include <random>
#include <set>

#include "db/ledger_hash.h"
#include "db/migrations.h"
#include "tests/db/db_test_util.h"

namespace keymgr::db {
namespace {

using testing::open_or_die;
using testing::options_for;
using testing::RawDb;
using testing::sign_entry;
using testing::TempDir;

KeysetRecord keyset(const std::string& name, const std::string& issuer) {
  KeysetRecord k;
  k.name = name;
  k.issuer = issuer;
  k.alg = "ES256";
  k.policy_json = R"({"rotate_every":"30d"})";
  k.created_at = 1700000000;
  k.updated_at = 1700000000;
  return k;
}

KeyRecord key(const std::string& kid, const std::string& hsm_id, int64_t keyset_id, const std::string& state) {
  KeyRecord k;
  k.kid = kid;
  k.hsm_id = hsm_id;
  k.keyset_id = keyset_id;
  k.alg = "ES256";
  k.state = state;
  k.public_jwk = kid.empty() ? "" : R"({"kty":"EC"})";
  k.created_at = 1700000000;
  k.activate_at = 1700000100;
  k.deactivate_at = 1800000000;
  k.retire_at = 1810000000;
  k.destroy_at = 1820000000;
  k.state_changed_at = 1700000000;
  return k;
}

int64_t add_keyset(Store& s, const std::string& name, const std::string& issuer) {
  ChangeSet cs;
  cs.keyset_upserts.push_back(keyset(name, issuer));
  auto r = s.apply(cs);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r->at(0) : 0;
}

TEST(StoreSchema, MigrationsAreIdempotentAndRecorded) {
  TempDir dir;
  auto path = dir.file("km.db");
  { auto s = open_or_die(options_for(path)); ASSERT_TRUE(s); add_keyset(*s, "web", "https://web"); }
  { auto s = open_or_die(options_for(path)); ASSERT_TRUE(s); ASSERT_TRUE(s->get_keyset("web").ok()); }
  RawDb raw(path);
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM schema_migrations"), latest_schema_version());
  EXPECT_EQ(raw.scalar("SELECT max(version) FROM schema_migrations"), latest_schema_version());
  EXPECT_GE(latest_schema_version(), 2);
  EXPECT_GT(raw.scalar("SELECT applied_at FROM schema_migrations WHERE version = 1"), 1600000000000);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw.get(), "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
}

TEST(StoreSchema, RefusesNewerSchema) {
  TempDir dir;
  auto path = dir.file("km.db");
  { auto s = open_or_die(options_for(path)); ASSERT_TRUE(s); }
  { RawDb raw(path); raw.exec("INSERT INTO schema_migrations VALUES(99, 0)"); }
  auto r = open_sqlite_store(options_for(path));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "schema_too_new");
}

TEST(StoreKeysets, UniqueNameAndIssuer) {
  TempDir dir;
  auto s = open_or_die(options_for(dir.file("km.db")));
  ASSERT_TRUE(s);
  int64_t id = add_keyset(*s, "web", "https://web");
  EXPECT_GT(id, 0);
  ChangeSet dup_name;
  dup_name.keyset_upserts.push_back(keyset("web", "https://other"));
  EXPECT_EQ(s->apply(dup_name).status().code(), ErrorCode::kAlreadyExists);
  ChangeSet dup_issuer;
  dup_issuer.keyset_upserts.push_back(keyset("other", "https://web"));
  auto r = s->apply(dup_issuer);
  EXPECT_EQ(r.status().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(r.status().message().find("insert keyset 'other'"), std::string::npos) << r.status().message();

  // Update by id.
  auto ks = s->get_keyset("web");
  ASSERT_TRUE(ks.ok());
  ks->disabled = true;
  ks->policy_json = "{}";
  ChangeSet upd;
  upd.keyset_upserts.push_back(*ks);
  auto ur = s->apply(upd);
  ASSERT_TRUE(ur.ok()) << ur.status().to_string();
  EXPECT_EQ(ur->at(0), id);
  auto again = s->get_keyset("web");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->disabled);
  EXPECT_EQ(again->policy_json, "{}");
  EXPECT_EQ(s->get_keyset("nope").status().code(), ErrorCode::kNotFound);
  auto all = s->list_keysets();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST(StoreKeys, LifecycleOfKeyRows) {
  TempDir dir;
  auto s = open_or_die(options_for(dir.file("km.db")));
  ASSERT_TRUE(s);
  int64_t ks = add_keyset(*s, "web", "https://web");
  // Two intent rows with empty kid may coexist (kid unique only when non-empty).
  ChangeSet intent;
  intent.key_inserts = {key("", "h1", ks, "generating"), key("", "h2", ks, "generating")};
  ASSERT_TRUE(s->apply(intent).ok());
  ChangeSet done;
  done.key_updates = {key("kid-1", "h1", ks, "pre-activation")};
  done.key_deletes = {"h2"};
  ASSERT_TRUE(s->apply(done).ok());
  auto k = s->get_key_by_kid("kid-1");
  ASSERT_TRUE(k.ok()) << k.status().to_string();
  EXPECT_EQ(k->hsm_id, "h1");
  EXPECT_EQ(k->state, "pre-activation");
  EXPECT_FALSE(k->compromised_since.has_value());
  auto keys = s->list_keys(ks);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->size(), 1u);
  // Only "generating" rows may be deleted.
  ChangeSet del;
  del.key_deletes = {"h1"};
  EXPECT_EQ(s->apply(del).status().code(), ErrorCode::kFailedPrecondition);
  // Unknown keyset: foreign key.
  ChangeSet orphan;
  orphan.key_inserts = {key("kid-x", "hx", ks + 100, "active")};
  EXPECT_EQ(s->apply(orphan).status().code(), ErrorCode::kFailedPrecondition);
  // compromised_since round-trips.
  auto upd = key("kid-1", "h1", ks, "compromised");
  upd.compromised_since = 1750000000;
  upd.emergency = true;
  ChangeSet c;
  c.key_updates = {upd};
  ASSERT_TRUE(s->apply(c).ok());
  k = s->get_key_by_kid("kid-1");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->compromised_since, 1750000000);
  EXPECT_TRUE(k->emergency);
  EXPECT_EQ(s->get_key_by_kid("missing").status().code(), ErrorCode::kNotFound);
}

TEST(StoreChangeSet, FailingElementLeavesNothingAndChainHeadUnchanged) {
  TempDir dir;
  auto s = open_or_die(options_for(dir.file("km.db")));
  ASSERT_TRUE(s);
  int64_t ks = add_keyset(*s, "web", "https://web");
  ChangeSet first;
  first.key_inserts = {key("kid-1", "h1", ks, "active")};
  first.ledger = {testing::lifecycle_entry("key_generated", "kid-1", 1000)};
  ASSERT_TRUE(s->apply(first).ok());
  auto head_before = s->ledger_head();
  ASSERT_TRUE(head_before.ok());

  ChangeSet bad;
  bad.keyset_upserts = {keyset("api", "https://api")};
  bad.key_inserts = {key("kid-2", "h2", ks, "active"), key("kid-1", "h3", ks, "active")};  // duplicate kid
  bad.ledger = {testing::lifecycle_entry("key_generated", "kid-2", 2000),
                testing::lifecycle_entry("key_generated", "kid-1", 2001)};
  auto r = s->apply(bad);
  EXPECT_EQ(r.status().code(), ErrorCode::kAlreadyExists) << r.status().to_string();
  EXPECT_EQ(s->get_keyset("api").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(s->get_key_by_kid("kid-2").status().code(), ErrorCode::kNotFound);
  auto size = s->ledger_size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 1);
  auto head_after = s->ledger_head();
  ASSERT_TRUE(head_after.ok());
  EXPECT_EQ(head_after->hash, head_before->hash);

  auto seq = s->append_ledger(sign_entry("kid-1", "j1", 3000));
  ASSERT_TRUE(seq.ok()) << seq.status().to_string();
  EXPECT_EQ(*seq, 2);
  auto rep = s->verify_chain();
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->ok) << rep->problem;
  EXPECT_EQ(rep->entries, 2);
}

TEST(StoreLedger, StoredEntryCarriesChainFields) {
  TempDir dir;
  auto s = open_or_die(options_for(dir.file("km.db")));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->ledger_head().status().code(), ErrorCode::kNotFound);
  auto in = sign_entry("kid-1", "j1", 1234);
  auto seq = s->append_ledger(in);
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 1);
  auto head = s->ledger_head();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->prev_hash, ledger_genesis_hash());
  in.seq = 1;
  EXPECT_EQ(head->hash, ledger_entry_hash(ledger_genesis_hash(), in));
  EXPECT_EQ(head->jti, "j1");
  EXPECT_EQ(head->detail, "{}");
  EXPECT_EQ(head->reason, "");
}

TEST(StoreLedger, QueryFiltersAndCursorPagination) {
  TempDir dir;
  auto s = open_or_die(options_for(dir.file("km.db")));
  ASSERT_TRUE(s);
  const std::string kids[] = {"k1", "k2", "k3"};
  ChangeSet bulk;
  for (int i = 0; i < 300; ++i) {
    auto e = sign_entry(kids[i % 3], "j" + std::to_string(i), 1000 + i, 2000000000, i % 10 == 0 ? "refused" : "ok");
    if (i % 50 == 0) e.actor = "ops";
    bulk.ledger.push_back(e);
  }
  ASSERT_TRUE(s->apply(bulk).ok());

  // Cursor walk over kid=k2: every matching row exactly once, newest first.
  LedgerQuery q;
  q.kid = "k2";
  q.limit = 7;
  std::vector<int64_t> seen;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = s->query_ledger(q);
    ASSERT_TRUE(page.ok()) << page.status().to_string();
    for (const auto& e : page->entries) {
      EXPECT_EQ(e.kid, "k2");
      seen.push_back(e.seq);
    }
    if (!page->next_cursor) break;
    q.before_seq = page->next_cursor;
  }
  ASSERT_EQ(seen.size(), 100u);
  EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend()));
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 100u);
  EXPECT_EQ(seen.front(), 299);  // entry i has seq i+1; i=298 is the newest k2 ... i%3==1
  EXPECT_EQ(seen.back(), 2);

  // Combined filters + time range.
  LedgerQuery r;
  r.kid = "k1";
  r.from_ms = 1100;
  r.to_ms = 1199;
  r.outcome = "ok";
  r.limit = 1000;
  auto page = s->query_ledger(r);
  ASSERT_TRUE(page.ok());
  size_t expected = 0;
  for (int i = 100; i < 200; ++i) expected += (i % 3 == 0 && i % 10 != 0) ? 1 : 0;
  EXPECT_EQ(page->entries.size(), expected);
  EXPECT_FALSE(page->next_cursor.has_value());
  for (const auto& e : page->entries) {
    EXPECT_GE(e.ts_ms, 1100);
    EXPECT_LE(e.ts_ms, 1199);
  }

  LedgerQuery by_jti;
  by_jti.jti = "j42";
  page = s->query_ledger(by_jti);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 1u);
  EXPECT_EQ(page->entries[0].seq, 43);

  LedgerQuery by_sub;
  by_sub.sub = "user-j7";
  page = s->query_ledger(by_sub);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 1u);

  LedgerQuery by_actor;
  by_actor.actor = "ops";
  page = s->query_ledger(by_actor);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries.size(), 6u);

  LedgerQuery by_token;
  by_token.token_sha256 = std::string(64, 'a');
  by_token.keyset = "web";
  by_token.kind = "sign";
  by_token.limit = 5000;  // clamped to 1000
  page = s->query_ledger(by_token);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries.size(), 270u);

  LedgerQuery zero;
  zero.limit = 0;  // clamped to 1
  page = s->query_ledger(zero);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries.size(), 1u);
  EXPECT_EQ(page->next_cursor, 300);

  // Export streams everything newest first and honours an early stop.
  int64_t n = 0, prev = INT64_MAX;
  ASSERT_TRUE(s->export_ledger(LedgerQuery{}, [&](const LedgerEntry& e) {
    EXPECT_LT(e.seq, prev);
    prev = e.seq;
    ++n;
    return true;
  }).ok());
  EXPECT_EQ(n, 300);
  n = 0;
  ASSERT_TRUE(s->export_ledger(LedgerQuery{}, [&](const LedgerEntry&) { return ++n < 10; }).ok());
  EXPECT_EQ(n, 10);
}

// The two-phase page plan relies on the disorder bound; check it against a brute-force model with
// timestamps that run backwards (jitter and one large clock step).
TEST(StoreLedger, PagesMatchBruteForceWithOutOfOrderTimestamps) {
  TempDir dir;
  auto s = open_or_die(options_for(dir.file("km.db")));
  ASSERT_TRUE(s);
  std::mt19937 rng(5);
  std::vector<LedgerEntry> model;
  ChangeSet cs;
  for (int i = 0; i < 2000; ++i) {
    int64_t ts = 100000 + i * 10 + static_cast<int64_t>(rng() % 40);  // up to 40 ms disorder
    if (i >= 1200 && i < 1300) ts -= 5000;                            // clock stepped back 5 s
    auto e = sign_entry("k" + std::to_string(rng() % 4), "j" + std::to_string(i), ts, 2000000000,
                        rng() % 5 == 0 ? "refused" : "ok");
    e.sub = "u" + std::to_string(rng() % 30);
    cs.ledger.push_back(e);
    e.seq = i + 1;
    model.push_back(e);
  }
  ASSERT_TRUE(s->apply(cs).ok());
  for (int round = 0; round < 300; ++round) {
    LedgerQuery q;
    int pick = static_cast<int>(rng() % 3);
    if (pick == 0) q.kid = "k" + std::to_string(rng() % 4);
    if (pick == 1) q.sub = "u" + std::to_string(rng() % 30);
    if (pick == 2) q.actor = "svc-web";
    if (rng() % 2) q.outcome = "ok";
    if (rng() % 2) q.from_ms = 100000 + static_cast<int64_t>(rng() % 20000);
    if (rng() % 2) q.to_ms = 100000 + static_cast<int64_t>(rng() % 22000);
    if (rng() % 2) q.before_seq = 1 + static_cast<int64_t>(rng() % 2000);
    q.limit = 1 + static_cast<int>(rng() % 60);
    std::vector<int64_t> want;
    for (auto it = model.rbegin(); it != model.rend() && static_cast<int>(want.size()) < q.limit; ++it) {
      const auto& e = *it;
      if ((q.kid && e.kid != *q.kid) || (q.sub && e.sub != *q.sub) || (q.actor && e.actor != *q.actor) ||
          (q.outcome && e.outcome != *q.outcome) || (q.from_ms && e.ts_ms < *q.from_ms) ||
          (q.to_ms && e.ts_ms > *q.to_ms) || (q.before_seq && e.seq >= *q.before_seq)) {
        continue;
      }
      want.push_back(e.seq);
    }
    auto page = s->query_ledger(q);
    ASSERT_TRUE(page.ok()) << page.status().to_string();
    std::vector<int64_t> got;
    for (const auto& e : page->entries) got.push_back(e.seq);
    ASSERT_EQ(got, want) << "round " << round;
  }
  auto rep = s->verify_chain();
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->ok) << rep->problem;
}

TEST(StoreLedger, TokensSignedSince) {
  TempDir dir;
  auto s = open_or_die(options_for(dir.file("km.db")));
  ASSERT_TRUE(s);
  const int64_t now = 1750000000;
  ChangeSet cs;
  cs.ledger = {
      sign_entry("k1", "old", 1000, now + 100),                 // before since
      sign_entry("k1", "valid", 5000, now + 100),               // counts
      sign_entry("k1", "expired", 5001, now),                   // exp == now: no longer valid
      sign_entry("k1", "refused", 5002, now + 100, "refused"),  // not a token
      sign_entry("k2", "otherkid", 5003, now + 100),            // other key
      sign_entry("k1", "valid2", 5004, now + 1),                // counts
      testing::lifecycle_entry("key_compromised", "k1", 5005),  // not a sign entry
  };
  ASSERT_TRUE(s->apply(cs).ok());
  std::vector<std::string> jtis;
  ASSERT_TRUE(s->tokens_signed_since("k1", 5000, now, [&](const LedgerEntry& e) {
    jtis.push_back(e.jti);
    return true;
  }).ok());
  EXPECT_EQ(jtis, (std::vector<std::string>{"valid", "valid2"}));
}

TEST(StoreApiTokens, CreateGetListRevoke) {
  TempDir dir;
  auto s = open_or_die(options_for(dir.file("km.db")));
  ASSERT_TRUE(s);
  ApiTokenRecord t;
  t.id = "tok_abc";
  t.name = "svc-web";
  t.role = "issuer";
  t.keysets = {"web", "mobile"};
  t.secret_hash = Bytes(32, 0x5a);
  t.created_at = 1700000000;
  ASSERT_TRUE(s->create_api_token(t, testing::lifecycle_entry("api_token_created", "", 1)).ok());
  EXPECT_EQ(s->create_api_token(t, testing::lifecycle_entry("api_token_created", "", 2)).code(),
            ErrorCode::kAlreadyExists);
  auto got = s->get_api_token("tok_abc");
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(got->keysets, t.keysets);
  EXPECT_EQ(got->secret_hash, t.secret_hash);
  EXPECT_FALSE(got->revoked_at.has_value());
  ASSERT_TRUE(s->revoke_api_token("tok_abc", 1700000500, testing::lifecycle_entry("api_token_revoked", "", 3)).ok());
  got = s->get_api_token("tok_abc");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->revoked_at, 1700000500);
  EXPECT_EQ(s->revoke_api_token("tok_abc", 1, testing::lifecycle_entry("api_token_revoked", "", 4)).code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(s->get_api_token("nope").status().code(), ErrorCode::kNotFound);
  auto all = s->list_api_tokens();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
  // Ledger holds exactly the two successful events; the failed ones rolled back with their writes.
  auto size = s->ledger_size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 2);
  EXPECT_TRUE(s->check_writable().ok());
}

TEST(StoreCheckpoints, MustMatchTheLedger) {
  TempDir dir;
  auto s = open_or_die(options_for(dir.file("km.db")));
  ASSERT_TRUE(s);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "j" + std::to_string(i), i)).ok());
  auto head = s->ledger_head();
  ASSERT_TRUE(head.ok());
  Checkpoint cp{head->seq, head->hash, 99, "audit-kid", "ES256", Bytes{1, 2, 3}};
  EXPECT_EQ(checkpoint_signing_input(cp),
            "keymgr-checkpoint-v1\n5\n" + hex_encode(head->hash) + "\n99");
  ASSERT_TRUE(s->add_checkpoint(cp).ok());
  EXPECT_EQ(s->add_checkpoint(cp).code(), ErrorCode::kAlreadyExists);
  Checkpoint wrong = cp;
  wrong.seq = 4;
  EXPECT_EQ(s->add_checkpoint(wrong).code(), ErrorCode::kFailedPrecondition);
  wrong.seq = 50;
  EXPECT_EQ(s->add_checkpoint(wrong).code(), ErrorCode::kFailedPrecondition);
  auto list = s->list_checkpoints(10);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->at(0).signature, (Bytes{1, 2, 3}));
  EXPECT_EQ(list->at(0).head, head->hash);
}

TEST(StoreDurability, HeadAndSizeSurviveReopen) {
  TempDir dir;
  auto path = dir.file("km.db");
  LedgerEntry head;
  {
    auto s = open_or_die(options_for(path));
    ASSERT_TRUE(s);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "j" + std::to_string(i), i)).ok());
    auto h = s->ledger_head();
    ASSERT_TRUE(h.ok());
    head = *h;
  }
  auto s = open_or_die(options_for(path));
  ASSERT_TRUE(s);
  auto h = s->ledger_head();
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->seq, head.seq);
  EXPECT_EQ(h->hash, head.hash);
  auto size = s->ledger_size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 20);
  // The chain continues from the reloaded head.
  auto seq = s->append_ledger(sign_entry("k", "after", 100));
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 21);
  auto rep = s->verify_chain();
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->ok) << rep->problem;
}

// The database holds token hashes, subjects and callers: the file and its -wal/-shm are the
// owner's alone even when the process umask would let others read them.
TEST(StoreFiles, DatabaseWalAndShmAreOwnerOnlyWhateverTheUmask) {
  for (const mode_t mask : {mode_t{022}, mode_t{0}, mode_t{0277}}) {
    TempDir dir;
    const std::string path = dir.file("keymgr.db");
    const mode_t old = ::umask(mask);
    auto s = open_or_die(options_for(path));
    const bool appended = s && s->append_ledger(sign_entry("k", "j1", 1)).ok();  // the WAL has frames
    ::umask(old);
    ASSERT_TRUE(appended);
    for (const std::string suffix : {"", "-wal", "-shm"}) {
      struct stat st {};
      ASSERT_EQ(::stat((path + suffix).c_str(), &st), 0) << path + suffix;
      EXPECT_EQ(st.st_mode & 07777, 0600u) << "keymgr.db" << suffix << " under umask 0" << std::oct << mask;
    }
  }
}

}  // namespace
}  // namespace keymgr::db

namespace keymgr::db {
namespace {
// The server and the CLI (`keymgr token create`) are two processes writing one file: each store
// must continue the chain from what the other committed, never from a stale in-memory head.
TEST(StoreLedger, TwoWritersOnOneFileKeepOneChain) {
  testing::TempDir dir;
  auto a = testing::open_or_die(testing::options_for(dir.file("km.db")));
  auto b = testing::open_or_die(testing::options_for(dir.file("km.db")));
  ASSERT_TRUE(a && b);
  for (int i = 0; i < 20; ++i) {
    Store& w = (i % 3 == 0) ? *b : *a;
    auto seq = w.append_ledger(testing::sign_entry("k", "j" + std::to_string(i), 1000 + i));
    ASSERT_TRUE(seq.ok()) << i << ": " << seq.status().to_string();
    EXPECT_EQ(*seq, i + 1);
  }
  ChangeSet cs;
  cs.ledger = {testing::lifecycle_entry("key_generated", "k", 5000)};
  ASSERT_TRUE(b->apply(cs).ok());
  ASSERT_TRUE(a->append_ledger(testing::sign_entry("k", "last", 6000)).ok());
  auto rep = a->verify_chain();
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->ok) << rep->problem;
  EXPECT_EQ(rep->entries, 22);
}
}  // namespace
}  // namespace keymgr::db
