// The store conformance suite, part 4: leases and fencing (db/store.h acquire_lease, Fence) — the
// mechanism that lets exactly one instance run the scheduler, reconcile and the integrator, and
// keeps a paused former leader from writing anything once its lease has passed.
#include <chrono>
#include <thread>

#include "tests/db/store_conformance.h"
#include "tests/db/test_records.h"

namespace keymgr::db::testing {
namespace {

using namespace std::chrono_literals;

void wait_past(const Lease& l) {
  // Leases are timed by the database's clock; on these backends that is this host's wall clock.
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  while (now_ms() <= l.expires_at_ms + 5) std::this_thread::sleep_for(5ms);
}

TEST_P(StoreConformance, LeaseIsGrantedRenewedExpiredAndTakenOverWithAGrowingEpoch) {
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->read_lease("leader")->has_value());
  auto a = s->acquire_lease("leader", "instance-a", 300);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->epoch, 1);
  EXPECT_EQ(a->holder, "instance-a");

  auto b = s->acquire_lease("leader", "instance-b", 300);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(b.status().reason(), "lease_held");
  EXPECT_NE(b.status().message().find("instance-a"), std::string::npos) << b.status().message();

  auto renewed = s->acquire_lease("leader", "instance-a", 300);
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(renewed->epoch, 1) << "a renewal keeps the epoch";
  EXPECT_GE(renewed->expires_at_ms, a->expires_at_ms);

  wait_past(*renewed);
  b = s->acquire_lease("leader", "instance-b", 300);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->epoch, 2);
  EXPECT_EQ(s->acquire_lease("leader", "instance-a", 300).status().reason(), "lease_held");

  // A release by a former holder changes nothing; the holder's own release frees it at once.
  ASSERT_TRUE(s->release_lease("leader", "instance-a", 1).ok());
  EXPECT_EQ(s->acquire_lease("leader", "instance-a", 300).status().reason(), "lease_held");
  ASSERT_TRUE(s->release_lease("leader", "instance-b", 2).ok());
  a = s->acquire_lease("leader", "instance-a", 60000);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->epoch, 3);
  auto stored = s->read_lease("leader");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->holder, "instance-a");
  EXPECT_EQ((*stored)->epoch, 3);

  // Leases are independent by name; bad arguments are refused.
  EXPECT_EQ(s->acquire_lease("other", "instance-b", 300)->epoch, 1);
  EXPECT_EQ(s->acquire_lease("x", "", 300).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s->acquire_lease("x", "h", 0).status().code(), ErrorCode::kInvalidArgument);
}

// A leader that was paused past its lease (SIGSTOP, a long GC, a network partition) wakes up
// believing it still leads: every write it makes with its old fence is refused, whole.
TEST_P(StoreConformance, WritesOfAStaleLeaderAreRefusedAndLeaveNothing) {
  auto s = open();
  auto other = open();  // the new leader's instance
  ASSERT_TRUE(s && other);
  auto a = s->acquire_lease("leader", "instance-a", 250);
  ASSERT_TRUE(a.ok());
  const Fence fa{"leader", a->epoch};

  // While the lease holds, fenced writes go through.
  ChangeSet ok_cs;
  ok_cs.fence = fa;
  ok_cs.keyset_upserts = {keyset("web", "https://web")};
  ok_cs.ledger = {lifecycle_entry("keyset_created", "", 1000)};
  ASSERT_TRUE(s->apply(ok_cs).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "j" + std::to_string(i), 2000 + i)).ok());
  ASSERT_TRUE(s->integrate_tree(1000, &fa).ok());
  EXPECT_EQ(s->tree_head()->size, 6);

  // Its lease runs out (nobody took it yet): already refused.
  wait_past(*a);
  ChangeSet expired;
  expired.fence = fa;
  expired.keyset_upserts = {keyset("api", "https://api")};
  auto r = s->apply(expired);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.status().reason(), "stale_leader");
  EXPECT_NE(r.status().message().find("expired"), std::string::npos) << r.status().message();

  // Another instance takes over (epoch 2); the old leader's writes stay refused.
  auto b = other->acquire_lease("leader", "instance-b", 60000);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  ASSERT_EQ(b->epoch, 2);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "late" + std::to_string(i), 3000 + i)).ok());
  const int64_t size_before = *s->ledger_size();

  ChangeSet stale;
  stale.fence = fa;
  stale.keyset_upserts = {keyset("api", "https://api")};
  stale.ledger = {lifecycle_entry("keyset_created", "", 4000)};
  r = s->apply(stale);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "stale_leader");
  EXPECT_NE(r.status().message().find("epoch 2"), std::string::npos) << r.status().message();
  EXPECT_EQ(s->get_keyset("api").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(*s->ledger_size(), size_before) << "the refused change set's ledger entry must not exist";

  auto seq = s->sequence_ledger(1000, &fa);
  if (seq.ok()) {
    EXPECT_EQ(*seq, 0) << "a backend that sequences at commit writes nothing here";
  } else {
    EXPECT_EQ(seq.status().reason(), "stale_leader");
  }
  auto tree = s->integrate_tree(1000, &fa);
  ASSERT_FALSE(tree.ok());
  EXPECT_EQ(tree.status().reason(), "stale_leader");
  EXPECT_EQ(s->tree_head()->size, 6);

  TreeCheckpoint cp;
  cp.size = 6;
  cp.root = s->tree_head()->root;
  cp.ts_ms = 5000;
  cp.note = "note";
  EXPECT_EQ(s->add_tree_checkpoint(cp, &fa).reason(), "stale_leader");
  EXPECT_EQ(s->tree_checkpoint_at_most(100).status().code(), ErrorCode::kNotFound);

  // The new leader's fence works, from either store.
  const Fence fb{"leader", b->epoch};
  auto grown = s->integrate_tree(1000, &fb);
  ASSERT_TRUE(grown.ok()) << grown.status().to_string();
  EXPECT_EQ(grown->size, 9);
  EXPECT_TRUE(other->add_tree_checkpoint(cp, &fb).ok());
  expect_chain_ok(*other, 9);
}

// Optimistic concurrency between instances: every change to a keyset or its keys bumps its
// version; a change computed from an older version is refused whole. Intent rows ("generating")
// neither bump it nor need it.
TEST_P(StoreConformance, KeysetVersionsGrowAndAChangeFromAStaleVersionIsRefused) {
  auto s = open();
  auto other = open();
  ASSERT_TRUE(s && other);
  const int64_t id = add_keyset(*s, "web", "https://web");
  auto v = [&](Store& st) {
    auto versions = st.keyset_versions();
    EXPECT_TRUE(versions.ok()) << versions.status().to_string();
    if (versions.ok()) {
      for (const auto& kv : *versions)
        if (kv.id == id) return kv.version;
    }
    return int64_t{-1};
  };
  const int64_t v1 = v(*s);
  EXPECT_GE(v1, 1);
  EXPECT_EQ(s->get_keyset("web")->version, v1);

  KeyRecord intent;
  intent.hsm_id = "h-intent";
  intent.keyset_id = id;
  intent.alg = "ES256";
  intent.state = "generating";
  ChangeSet ci;
  ci.key_inserts = {intent};
  ASSERT_TRUE(s->apply(ci).ok());
  EXPECT_EQ(v(*s), v1) << "an intent row is not a change readers see";

  // Two instances computed a change from version v1; the first lands, the second is refused.
  KeyRecord real = intent;
  real.kid = "kid-1";
  real.state = "active";
  real.public_jwk = "{}";
  ChangeSet first;
  first.expected_versions = {{id, v1}};
  first.key_updates = {real};
  first.ledger = {lifecycle_entry("key_activated", "kid-1", 1000)};
  ASSERT_TRUE(s->apply(first).ok());
  const int64_t v2 = v(*other);
  EXPECT_GT(v2, v1);

  KeyRecord theirs = real;
  theirs.hsm_id = "h-theirs";
  theirs.kid = "kid-2";
  ChangeSet second;
  second.expected_versions = {{id, v1}};
  second.key_inserts = {theirs};
  second.ledger = {lifecycle_entry("key_activated", "kid-2", 1001)};
  const int64_t size_before = *other->ledger_size();
  auto r = other->apply(second);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.status().reason(), "keyset_changed");
  EXPECT_EQ(other->get_key_by_kid("kid-2").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(*other->ledger_size(), size_before);
  EXPECT_EQ(v(*other), v2);

  // From the current version it goes through.
  second.expected_versions = {{id, v2}};
  ASSERT_TRUE(other->apply(second).ok());
  EXPECT_GT(v(*s), v2);
}

}  // namespace
}  // namespace keymgr::db::testing
