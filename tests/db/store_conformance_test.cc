// The store conformance suite, part 1: records, change sets, ledger reads and writes, API tokens,
// ledger checkpoints, durability across reopen, several stores on one database, group commit.
// Runs against every backend (see store_conformance.h); tamper evidence is in
// store_conformance_chain_test.cc.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "db/ledger_hash.h"
#include "tests/db/store_conformance.h"
#include "tests/db/test_records.h"

namespace keymgr::db::testing {
namespace {

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

TEST_P(StoreConformance, KeysetsUniqueNameAndIssuer) {
  auto s = open();
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

TEST_P(StoreConformance, KeysLifecycleOfKeyRows) {
  auto s = open();
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

TEST_P(StoreConformance, ChangeSetFailingElementLeavesNothingAndChainHeadUnchanged) {
  auto s = open();
  ASSERT_TRUE(s);
  int64_t ks = add_keyset(*s, "web", "https://web");
  ChangeSet first;
  first.key_inserts = {key("kid-1", "h1", ks, "active")};
  first.ledger = {lifecycle_entry("key_generated", "kid-1", 1000)};
  ASSERT_TRUE(s->apply(first).ok());
  settle(*s);
  auto head_before = s->ledger_head();
  ASSERT_TRUE(head_before.ok());

  ChangeSet bad;
  bad.keyset_upserts = {keyset("api", "https://api")};
  bad.key_inserts = {key("kid-2", "h2", ks, "active"), key("kid-1", "h3", ks, "active")};  // duplicate kid
  bad.ledger = {lifecycle_entry("key_generated", "kid-2", 2000),
                lifecycle_entry("key_generated", "kid-1", 2001)};
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

  EXPECT_EQ(seq_of(*s, s->append_ledger(sign_entry("kid-1", "j1", 3000))), 2);
  auto rep = s->verify_chain();
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->ok) << rep->problem;
  EXPECT_EQ(rep->entries, 2);
}

TEST_P(StoreConformance, LedgerStoredEntryCarriesChainFields) {
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->ledger_head().status().code(), ErrorCode::kNotFound);
  auto in = sign_entry("kid-1", "j1", 1234);
  EXPECT_EQ(seq_of(*s, s->append_ledger(in)), 1);
  auto head = s->ledger_head();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->prev_hash, ledger_genesis_hash());
  in.seq = 1;
  EXPECT_EQ(head->hash, ledger_entry_hash(ledger_genesis_hash(), in));
  EXPECT_EQ(head->jti, "j1");
  EXPECT_EQ(head->detail, "{}");
  EXPECT_EQ(head->reason, "");
}

TEST_P(StoreConformance, LedgerQueryFiltersAndCursorPagination) {
  auto s = open();
  ASSERT_TRUE(s);
  const std::string kids[] = {"k1", "k2", "k3"};
  ChangeSet bulk;
  for (int i = 0; i < 300; ++i) {
    auto e = sign_entry(kids[i % 3], "j" + std::to_string(i), 1000 + i, 2000000000, i % 10 == 0 ? "refused" : "ok");
    if (i % 50 == 0) e.actor = "ops";
    bulk.ledger.push_back(e);
  }
  ASSERT_TRUE(s->apply(bulk).ok());
  settle(*s);

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
TEST_P(StoreConformance, LedgerPagesMatchBruteForceWithOutOfOrderTimestamps) {
  auto s = open();
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
  settle(*s);
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

TEST_P(StoreConformance, LedgerTokensSignedSince) {
  auto s = open();
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
      lifecycle_entry("key_compromised", "k1", 5005),  // not a sign entry
  };
  ASSERT_TRUE(s->apply(cs).ok());
  std::vector<std::string> jtis;
  ASSERT_TRUE(s->tokens_signed_since("k1", 5000, now, [&](const LedgerEntry& e) {
    jtis.push_back(e.jti);
    return true;
  }).ok());
  EXPECT_EQ(jtis, (std::vector<std::string>{"valid", "valid2"}));
}

TEST_P(StoreConformance, ApiTokensCreateGetListRevoke) {
  auto s = open();
  ASSERT_TRUE(s);
  ApiTokenRecord t;
  t.id = "tok_abc";
  t.name = "svc-web";
  t.role = "issuer";
  t.keysets = {"web", "mobile"};
  t.secret_hash = Bytes(32, 0x5a);
  t.created_at = 1700000000;
  ASSERT_TRUE(s->create_api_token(t, lifecycle_entry("api_token_created", "", 1)).ok());
  EXPECT_EQ(s->create_api_token(t, lifecycle_entry("api_token_created", "", 2)).code(),
            ErrorCode::kAlreadyExists);
  auto got = s->get_api_token("tok_abc");
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(got->keysets, t.keysets);
  EXPECT_EQ(got->secret_hash, t.secret_hash);
  EXPECT_FALSE(got->revoked_at.has_value());
  ASSERT_TRUE(s->revoke_api_token("tok_abc", 1700000500, lifecycle_entry("api_token_revoked", "", 3)).ok());
  got = s->get_api_token("tok_abc");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->revoked_at, 1700000500);
  EXPECT_EQ(s->revoke_api_token("tok_abc", 1, lifecycle_entry("api_token_revoked", "", 4)).code(),
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

TEST_P(StoreConformance, CheckpointsMustMatchTheLedger) {
  auto s = open();
  ASSERT_TRUE(s);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "j" + std::to_string(i), i)).ok());
  settle(*s);
  auto head = s->ledger_head();
  ASSERT_TRUE(head.ok());
  LedgerCheckpoint cp{head->seq, head->hash, 99, "audit-kid", "ES256", Bytes{1, 2, 3}};
  ASSERT_TRUE(s->add_checkpoint(cp).ok());
  EXPECT_EQ(s->add_checkpoint(cp).code(), ErrorCode::kAlreadyExists);
  LedgerCheckpoint wrong = cp;
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

TEST_P(StoreConformance, DurabilityHeadAndSizeSurviveReopen) {
  LedgerEntry head;
  {
    auto s = open();
    ASSERT_TRUE(s);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "j" + std::to_string(i), i)).ok());
    settle(*s);
    auto h = s->ledger_head();
    ASSERT_TRUE(h.ok());
    head = *h;
  }
  auto s = open();
  ASSERT_TRUE(s);
  auto h = s->ledger_head();
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->seq, head.seq);
  EXPECT_EQ(h->hash, head.hash);
  auto size = s->ledger_size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 20);
  // The chain continues from the reloaded head.
  EXPECT_EQ(seq_of(*s, s->append_ledger(sign_entry("k", "after", 100))), 21);
  auto rep = s->verify_chain();
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->ok) << rep->problem;
}

// The server and the CLI (`keymgr token create`) are two processes writing one database (several
// instances, with PostgreSQL): each store must continue the chain from what the other committed,
// never from a stale in-memory head.
TEST_P(StoreConformance, TwoStoresOnOneDatabaseKeepOneChain) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  for (int i = 0; i < 20; ++i) {
    Store& w = (i % 3 == 0) ? *b : *a;
    // Either store may sequence what the other appended: one chain.
    EXPECT_EQ(seq_of(i % 2 == 0 ? *a : *b, w.append_ledger(sign_entry("k", "j" + std::to_string(i), 1000 + i))),
              i + 1)
        << i;
  }
  ChangeSet cs;
  cs.ledger = {lifecycle_entry("key_generated", "k", 5000)};
  ASSERT_TRUE(b->apply(cs).ok());
  ASSERT_TRUE(a->append_ledger(sign_entry("k", "last", 6000)).ok());
  settle(*b);
  auto rep = a->verify_chain();
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->ok) << rep->problem;
  EXPECT_EQ(rep->entries, 22);
}

// An appended entry is durable and readable when append_ledger() returns, sequenced or not:
// provenance checks right after signing, compromise impact and the ledger size see it at once.
TEST_P(StoreConformance, AppendedEntriesAreReadableBeforeTheyAreSequenced) {
  auto s = open();
  ASSERT_TRUE(s);
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "j" + std::to_string(i), 5000 + i)).ok());
  for (int i = 1; i <= 3; ++i) {
    auto page = s->query_ledger(LedgerQuery{.jti = "j" + std::to_string(i)});
    ASSERT_TRUE(page.ok()) << page.status().to_string();
    ASSERT_EQ(page->entries.size(), 1u) << i;
    EXPECT_EQ(page->entries[0].ts_ms, 5000 + i);
  }
  EXPECT_EQ(*s->ledger_size(), 3);
  int n = 0;
  ASSERT_TRUE(s->tokens_signed_since("k", 0, 1, [&](const LedgerEntry&) { return ++n > 0; }).ok());
  EXPECT_EQ(n, 3);
  // The first page leads with the newest entries, sequenced or not.
  auto first = s->query_ledger(LedgerQuery{.limit = 2});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->entries.size(), 2u);
  EXPECT_EQ(first->entries[0].jti, "j3");
  EXPECT_EQ(first->entries[1].jti, "j2");
  EXPECT_TRUE(first->next_cursor.has_value());
  std::vector<std::string> exported;
  ASSERT_TRUE(s->export_ledger(LedgerQuery{}, [&](const LedgerEntry& e) {
    exported.push_back(e.jti);
    return true;
  }).ok());
  EXPECT_EQ(exported, (std::vector<std::string>{"j3", "j2", "j1"}));
  // Once sequenced: dense seqs in append order, one chain, and a cursor walk sees each once.
  settle(*s);
  std::vector<int64_t> seqs;
  LedgerQuery q;
  q.limit = 2;
  for (int pages = 0; pages < 5; ++pages) {
    auto page = s->query_ledger(q);
    ASSERT_TRUE(page.ok());
    for (const auto& e : page->entries) seqs.push_back(e.seq);
    if (!page->next_cursor) break;
    q.before_seq = page->next_cursor;
  }
  EXPECT_EQ(seqs, (std::vector<int64_t>{3, 2, 1}));
  expect_chain_ok(*s, 3);
}

// Sequencers exclude each other (several instances, a stale leader): appends from two stores and
// sequencing from both at once still give one dense chain holding every entry once.
TEST_P(StoreConformance, ConcurrentSequencersKeepOneDenseChain) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Store& w = t % 2 == 0 ? *a : *b;
      for (int i = 0; i < 200; ++i) ASSERT_TRUE(w.append_ledger(sign_entry("k", std::to_string(t * 1000 + i), i)).ok());
    });
  }
  std::vector<std::thread> sequencers;
  for (Store* s : {a.get(), b.get()}) {
    sequencers.emplace_back([&, s] {
      while (!done.load()) ASSERT_TRUE(s->sequence_ledger(50).ok());
    });
  }
  for (auto& th : threads) th.join();
  done = true;
  for (auto& th : sequencers) th.join();
  expect_chain_ok(*a, 800);
  std::set<std::string> jtis;
  ASSERT_TRUE(a->export_ledger(LedgerQuery{}, [&](const LedgerEntry& e) {
    EXPECT_GT(e.seq, 0);
    jtis.insert(e.jti);
    return true;
  }).ok());
  EXPECT_EQ(jtis.size(), 800u);
}

TEST_P(StoreConformance, GroupCommitConcurrentAppendsShareCommits) {
  auto s = open();
  ASSERT_TRUE(s);
  constexpr int kThreads = 16;
  constexpr int kPerThread = 500;
  std::vector<std::vector<int64_t>> seqs(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = s->append_ledger(sign_entry("k" + std::to_string(t), std::to_string(t) + "-" + std::to_string(i), i));
        if (!r.ok()) {
          ++failures;
          continue;
        }
        seqs[t].push_back(*r);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  if (settle(*s) > 0) {
    // Sequenced off the signing path: each append's seq is where its entry (by jti) landed.
    std::map<std::string, int64_t> by_jti;
    ASSERT_TRUE(s->export_ledger(LedgerQuery{}, [&](const LedgerEntry& e) {
      by_jti[e.jti] = e.seq;
      return true;
    }).ok());
    for (int t = 0; t < kThreads; ++t) {
      for (int i = 0; i < kPerThread; ++i) {
        ASSERT_EQ(seqs[t][i], 0);
        seqs[t][i] = by_jti[std::to_string(t) + "-" + std::to_string(i)];
      }
    }
  }

  std::set<int64_t> all;
  for (int t = 0; t < kThreads; ++t) {
    // A caller's own appends are ordered: each returns only after its entry is committed.
    EXPECT_TRUE(std::is_sorted(seqs[t].begin(), seqs[t].end()));
    all.insert(seqs[t].begin(), seqs[t].end());
  }
  constexpr int64_t kTotal = int64_t{kThreads} * kPerThread;
  ASSERT_EQ(static_cast<int64_t>(all.size()), kTotal);  // unique
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kTotal);  // dense: every seq present

  // Each returned seq holds the entry its caller appended.
  for (int t : {0, 7, 15}) {
    auto page = s->query_ledger(LedgerQuery{.jti = std::to_string(t) + "-123"});
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->entries.size(), 1u);
    EXPECT_EQ(page->entries[0].seq, seqs[t][123]);
  }
  expect_chain_ok(*s, kTotal);

  CommitStats st = stats_of(*s);
  std::cout << "[ stats    ] " << kTotal << " entries in " << st.transactions << " transactions, largest batch "
            << st.largest_batch << "\n";
  EXPECT_EQ(st.entries, kTotal);
  EXPECT_EQ(st.failed_transactions, 0);
  EXPECT_LT(st.transactions, kTotal / 2) << "group commit did not batch";
  EXPECT_GT(st.largest_batch, 1);
}

TEST_P(StoreConformance, GroupCommitMaxBatchIsRespected) {
  StoreOptions o;
  o.max_batch = 4;
  auto s = open(o);
  ASSERT_TRUE(s);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", std::to_string(t * 1000 + i), i)).ok());
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(stats_of(*s).largest_batch, 4);
  expect_chain_ok(*s, 400);
}

TEST_P(StoreConformance, GroupCommitAppendsAndChangeSetsInterleaveOnOneChain) {
  auto s = open();
  ASSERT_TRUE(s);
  std::thread appender([&] {
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "a" + std::to_string(i), i)).ok());
  });
  std::thread applier([&] {
    for (int i = 0; i < 100; ++i) {
      ChangeSet cs;
      cs.ledger = {lifecycle_entry("policy_changed", "k", i), lifecycle_entry("key_activated", "k", i)};
      ASSERT_TRUE(s->apply(cs).ok());
    }
  });
  appender.join();
  applier.join();
  expect_chain_ok(*s, 500);
}

TEST_P(StoreConformance, GroupCommitAcknowledgedAppendsSurviveReopen) {
  std::atomic<int> ok{0};
  {
    auto s = open();
    ASSERT_TRUE(s);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20; ++i) {
          if (s->append_ledger(sign_entry("k", std::to_string(t * 100 + i), i)).ok()) ++ok;
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(ok.load(), 160);
  expect_chain_ok(*s, 160);
}

}  // namespace
}  // namespace keymgr::db::testing
