// Records for tests/db: a signing record and a lifecycle event with every field set, a keyset,
// the check that a store's chain is intact, and its commit counters.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "db/records.h"
#include "db/store.h"

namespace keymgr::db::testing {

inline LedgerEntry sign_entry(const std::string& kid, const std::string& jti, int64_t ts_ms, int64_t exp = 2000000000,
                              const std::string& outcome = "ok") {
  LedgerEntry e;
  e.ts_ms = ts_ms;
  e.kind = "sign";
  e.event = "sign";
  e.keyset = "web";
  e.kid = kid;
  e.alg = "ES256";
  e.actor = "svc-web";
  e.actor_addr = "10.0.0.7";
  e.jti = jti;
  e.sub = "user-" + jti;
  e.aud = "api";
  e.iat = ts_ms / 1000;
  e.exp = exp;
  e.token_sha256 = outcome == "ok" ? std::string(64, 'a') : "";
  e.outcome = outcome;
  e.reason = outcome == "ok" ? "" : "key_not_active";
  e.detail = "{}";
  return e;
}

inline LedgerEntry lifecycle_entry(const std::string& event, const std::string& kid, int64_t ts_ms) {
  LedgerEntry e;
  e.ts_ms = ts_ms;
  e.kind = "lifecycle";
  e.event = event;
  e.keyset = "web";
  e.kid = kid;
  e.alg = "ES256";
  e.actor = "scheduler";
  e.actor_addr = "local";
  e.outcome = "ok";
  e.reason = "scheduled";
  e.detail = R"({"from":"pre-activation","to":"active"})";
  return e;
}


inline KeysetRecord keyset(const std::string& name, const std::string& issuer) {
  KeysetRecord k;
  k.name = name;
  k.issuer = issuer;
  k.alg = "ES256";
  k.policy_json = R"({"rotate_every":"30d"})";
  k.created_at = 1700000000;
  k.updated_at = 1700000000;
  return k;
}

// Inserts keyset(name, issuer); returns its id (0 and a gtest failure when refused).
inline int64_t add_keyset(Store& s, const std::string& name, const std::string& issuer) {
  ChangeSet cs;
  cs.keyset_upserts.push_back(keyset(name, issuer));
  auto r = s.apply(cs);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r->at(0) : 0;
}

// Sequences every durable entry not sequenced yet (a backend that sequences off the signing path,
// db/pg_store.h; a no-op on SQLite). Returns how many it moved.
inline int64_t settle(Store& s) {
  int64_t total = 0;
  for (;;) {
    auto n = s.sequence_ledger(1 << 20);
    EXPECT_TRUE(n.ok()) << n.status().to_string();
    if (!n.ok() || *n == 0) return total;
    total += *n;
  }
}

// The seq of the entry an append_ledger() call just returned: its result when the backend
// sequences at commit, else the head after settle(). REQUIRES: no other append since (one thread).
inline int64_t seq_of(Store& s, const Result<int64_t>& appended) {
  EXPECT_TRUE(appended.ok()) << appended.status().to_string();
  if (!appended.ok()) return -1;
  if (*appended > 0) return *appended;
  settle(s);
  auto head = s.ledger_head();
  EXPECT_TRUE(head.ok()) << head.status().to_string();
  return head.ok() ? head->seq : -1;
}

// verify_chain() finds `entries` entries and no damage (after settle()).
inline void expect_chain_ok(Store& s, int64_t entries) {
  settle(s);
  auto rep = s.verify_chain();
  ASSERT_TRUE(rep.ok()) << rep.status().to_string();
  EXPECT_TRUE(rep->ok) << rep->problem << " at " << rep->first_bad_seq.value_or(-1);
  EXPECT_EQ(rep->entries, entries);
}

// The store's CommitStats (a gtest failure when it offers none).
inline CommitStats stats_of(Store& s) {
  auto* src = dynamic_cast<CommitStatsSource*>(&s);
  EXPECT_NE(src, nullptr) << "backends offer CommitStatsSource";
  return src ? src->commit_stats() : CommitStats{};
}

}  // namespace keymgr::db::testing
