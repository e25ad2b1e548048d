// KeyService owns the lifecycle rules: keysets bound to one issuer, key states and their times,
// rotation, and the repair of half-done work at start-up. It is the only writer of keys.
//
// Readers get immutable snapshots (KeysetPtr) that are swapped whole after each committed change,
// so the sign path and JWKS never wait for an operation. Changes to one keyset are serialised by
// that keyset's mutex; different keysets change concurrently.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/fair_shared_mutex.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/types.h"
#include "db/store.h"
#include "hsm/hsm.h"
#include "keymgr/key_state.h"
#include "keymgr/keyset.h"
#include "keymgr/keyset_registry.h"
#include "keymgr/keyset_rules.h"
#include "keymgr/policy.h"
#include "keymgr/rotation_planner.h"

namespace keymgr {

struct ReconcileReport {
  int intents_removed = 0;     // rows of keys whose generation never finished
  int orphans_destroyed = 0;   // HSM objects without metadata
  int missing_marked = 0;      // metadata whose HSM object is gone → destroyed
  bool done = false;           // false when the HSM could not be reached, or an unfinished generation
                               // was left to its live owner: reconcile again later
  std::vector<std::string> details;
};

struct NewKeyset {
  std::string name;
  std::string issuer;
  Algorithm alg = kDefaultAlgorithm;
  Policy policy;
};

class KeyService {
 public:
  // `metrics` (optional) receives incident counters (signing gaps, unpublished activations).
  KeyService(hsm::Hsm& hsm, db::Store& store, const Clock& clock, Metrics* metrics = nullptr);
  KeyService(const KeyService&) = delete;
  KeyService& operator=(const KeyService&) = delete;

  // Loads every keyset from the store and, with `repair`, repairs half-done work against the HSM
  // (reconcile(fence)). Several instances: only the leader repairs. = read_stored + load_stored.
  Result<ReconcileReport> load(bool repair = true, const db::Fence* fence = nullptr);
  // Every keyset and key as stored, in two queries: needs the store only, so a start-up can read
  // them while the HSM is still opening.
  struct Stored {
    std::vector<db::KeysetRecord> keysets;
    std::vector<db::KeyRecord> keys;  // every keyset's, in (keyset_id, created_at, hsm_id) order
  };
  static Result<Stored> read_stored(db::Store& store);
  Result<ReconcileReport> load_stored(Stored stored, bool repair = true, const db::Fence* fence = nullptr);
  // Several instances: reloads every keyset whose stored version differs from this process's
  // snapshot (another instance changed it) or that this process has not seen (another created it).
  // A keyset busy with a local operation is skipped (that operation reloads it). Returns how many
  // were reloaded. Called by the ChangeWatcher (keymgr/change_watcher.h).
  Result<int> refresh();
  // Reloads keyset `name` now, unless a local operation holds it (that operation reloads it when
  // it commits): the store refused a signature this process's snapshot allowed (another instance
  // changed the key), so the snapshot is stale. Returns whether it reloaded.
  Result<bool> refresh_keyset(std::string_view name);
  // Repairs intents, orphans and missing objects. Safe to call at any time; with several instances,
  // only from the leader, with its fence (keymgr/leadership.h). Key generations still in flight on
  // a live instance (its "instance:<id>" lease holds) are left alone.
  Result<ReconcileReport> reconcile(const db::Fence* fence = nullptr);

  // ---- reads (snapshots) ----
  std::vector<KeysetPtr> keysets() const;
  KeysetPtr find_keyset(std::string_view name) const;
  KeysetPtr find_keyset_by_issuer(std::string_view issuer) const;
  // The keyset whose issuer URL has this path ("/tenants/a"; "" for an issuer without a path).
  KeysetPtr find_keyset_by_issuer_path(std::string_view path) const;
  // The keyset that holds `kid` (any state), or null.
  KeysetPtr find_keyset_by_kid(std::string_view kid) const;

  // ---- operations (each records actor and reason in the ledger) ----
  Result<KeysetPtr> create_keyset(const NewKeyset& spec, const Actor& actor);
  Result<KeysetPtr> update_policy(std::string_view name, const Policy& policy, const Actor& actor);
  Result<KeysetPtr> set_disabled(std::string_view name, bool disabled, const Actor& actor, std::string_view reason);
  // Promote the pre-published key if it has been published long enough; otherwise pre-publish a
  // new one and end the active key's window when it becomes safe.
  Result<KeysetPtr> rotate(std::string_view name, const Actor& actor, std::string_view reason);
  // A brand-new key signs at once; the old active key is deactivated (still verifiable) and
  // pre-published successors are discarded.
  Result<KeysetPtr> emergency_rotate(std::string_view name, const Actor& actor, std::string_view reason);
  Result<KeysetPtr> suspend(std::string_view name, std::string_view kid, const Actor& actor, std::string_view reason);
  Result<KeysetPtr> resume(std::string_view name, std::string_view kid, const Actor& actor, std::string_view reason);
  // Unpublishes at once, never signs again. If it was the signing key, a fresh key signs at once
  // (the pre-published one if any, else a new one); if that fails the scheduler retries each tick.
  Result<KeysetPtr> compromise(std::string_view name, std::string_view kid, std::optional<TimePoint> suspected_since,
                               const Actor& actor, std::string_view reason);
  Result<KeysetPtr> destroy(std::string_view name, std::string_view kid, const Actor& actor, std::string_view reason);
  // The only way to let a key sign past its window: explicit and recorded. At most one sign_period.
  Result<KeysetPtr> extend(std::string_view name, std::string_view kid, TimePoint new_deactivate_at,
                           const Actor& actor, std::string_view reason);

  // ---- key usage (policy.max_signatures) ----
  // The signatures each key of keyset `name` has made, from the store (a key that never signed is
  // absent). Exact across instances and restarts.
  Result<std::vector<db::KeyUsage>> key_usage(std::string_view name) const;
  // The signatures of each key of keyset `name` per hour, for the hours in [from, to).
  Result<std::vector<db::KeyUsageHour>> key_usage_hours(std::string_view name, TimePoint from, TimePoint to) const;
  // Key `kid` made its policy's max_signatures (the store refused its next signature): its window
  // ends now and, in the same transaction, the pre-published successor signs (flagged when it was
  // not published long enough); without one a new key follows, as after a compromise. Nothing to
  // do when `kid` no longer signs (another signer or instance got there first).
  Result<KeysetPtr> retire_exhausted(std::string_view name, std::string_view kid, const Actor& actor);
  // For each keyset with max_signatures: reads its signing key's usage and rotates (pre-publishes
  // the successor) when usage_rotation_due(), estimating the rate from the previous call. Run by
  // the scheduler on the leader. Returns how many keysets it rotated; failures are logged and the
  // other keysets still checked.
  int rotate_for_usage();

  // ---- scheduling ----
  // Applies every transition that is due for one keyset at clock.now(), generates the successor
  // when its time comes, and updates the keyset's health. HSM failures are returned (and counted)
  // but never leave the keyset half-changed.
  // `fence`: the scheduler's, when several instances share the database (every change is refused
  // once this instance no longer leads).
  Status advance(std::string_view name, const db::Fence* fence = nullptr);
  // The earliest moment at which advance() has work for some keyset (a window that ends or
  // starts, a successor to generate, grace or destroy times, a health condition that begins or
  // clears), or a failed step's retry time. A time <= clock.now() means work is pending now.
  // nullopt: nothing is scheduled. The scheduler sleeps until then (capped by its interval).
  std::optional<TimePoint> next_event() const;
  // Names of the keysets whose next event is at or before `now`.
  std::vector<std::string> due_keysets(TimePoint now) const;
  // Called after every committed change to a keyset (so a sleeping scheduler can recompute its
  // wake-up). Runs with that keyset's mutex held: it must not call back into KeyService.
  void set_change_listener(std::function<void()> fn);
  KeysetHealth health(std::string_view name) const;
  std::vector<KeysetHealth> health_all() const;

  // ---- signing support ----
  struct SigningKey {
    KeysetPtr keyset;
    const Key* key = nullptr;  // points into *keyset
  };
  // The key that may sign for `name` right now (state active and inside its window at `now`).
  // If a pre-published key is due but the scheduler has not promoted it yet, promotes it first.
  Result<SigningKey> signing_key(std::string_view name, TimePoint now);

  // Held (shared) by a signer from the final key check until its ledger record is durable. Every
  // change that can end a key's signing takes it exclusively, and reads the clock only once it
  // holds it: so no token is signed by a key after its window was cut, and no transition lands
  // between a signer's check and its record. REQUIRES: the caller holds no keyset mutex.
  class SignGuard {
   public:
    SignGuard() = default;
    explicit SignGuard(std::shared_ptr<FairSharedMutex> mu) : mu_(std::move(mu)) { mu_->lock_shared(); }
    SignGuard(SignGuard&& o) noexcept : mu_(std::move(o.mu_)) {}
    SignGuard& operator=(SignGuard&&) = delete;
    ~SignGuard() {
      if (mu_) mu_->unlock_shared();
    }

   private:
    std::shared_ptr<FairSharedMutex> mu_;
  };
  SignGuard sign_guard(std::string_view name);

  const Clock& clock() const { return clock_; }

  // This process's owner name, Leadership::holder() ("<instance id>#<incarnation>"): recorded on
  // its key-generation intents, so a leader's reconcile leaves generations in flight on a live
  // instance alone, and repairs those of a dead incarnation. Set before use.
  void set_instance_id(std::string id) { instance_id_ = std::move(id); }
  const std::string& instance_id() const { return instance_id_; }
  // How far another host's clock may be from this one's (a lease that expired less than this ago
  // still counts as alive for reconcile). Default 60 s.
  void set_peer_clock_slack(std::chrono::milliseconds slack) { peer_clock_slack_ = slack; }

 private:
  struct KeysetSlot;  // per-keyset mutex, sign guard, health
  std::shared_ptr<KeysetSlot> slot(std::string_view name);
  std::shared_ptr<KeysetSlot> existing_slot(std::string_view name) const;

  // The opening of every operation on one keyset: its slot, locked, and its current snapshot.
  struct Locked;
  Result<Locked> lock_keyset(std::string_view name);

  // All REQUIRE: the keyset's slot mutex held.
  Result<KeysetPtr> reload_locked(std::string_view name);
  // store_.apply(cs), computed from this process's snapshots: every existing keyset the change
  // touches must still be at its snapshot's version (another instance may have changed it). On
  // "keyset_changed" the touched keysets are reloaded, so a retry starts from the current state.
  Result<std::vector<int64_t>> apply_locked(db::ChangeSet& cs);
  Status advance_locked(std::string_view name, KeysetSlot& slot, const db::Fence* fence = nullptr);
  // Generates the key `need` asks for, commits it with its ledger entries, and reloads.
  Result<KeysetPtr> generate_planned_locked(const Keyset& ks, const KeyToGenerate& need, TimePoint now,
                                            const db::Fence* fence = nullptr);
  // Promotes the successor whose activation time has come (the sign path's only state change).
  Status promote_due_locked(std::string_view name, KeysetSlot& slot);

  // A key made to sign before it was published for verifier_cache + clock_skew (emergency): adds a
  // `key_signs_unpublished` ledger entry to `cs` and returns true; report_unpublished() then logs
  // and counts it once the change is committed. False (nothing added) for a key published long
  // enough or the keyset's first key (no verifier can hold an older JWKS of a new keyset).
  bool flag_unpublished(db::ChangeSet& cs, const Keyset& ks, const Key& key, TimePoint now, const Actor& actor) const;
  void report_unpublished(const Keyset& ks, const Key& key, TimePoint now) const;
  void count(const char* metric, const std::string& keyset) const;
  // next_event(ks) with the keyset's last pass and failures (retry back-off).
  std::optional<TimePoint> event_with_retry(const Keyset& ks, TimePoint now) const;

  hsm::Hsm& hsm_;
  db::Store& store_;
  const Clock& clock_;
  Metrics* metrics_;
  KeysetRegistry registry_;
  std::string instance_id_;
  std::chrono::milliseconds peer_clock_slack_{60000};

  // rotate_for_usage()'s previous reading per kid: when and how many signatures (rate estimate).
  std::mutex usage_mu_;
  std::map<std::string, std::pair<TimePoint, int64_t>, std::less<>> usage_seen_;  // guarded by usage_mu_

  mutable std::mutex listener_mu_;
  std::function<void()> on_change_;  // guarded by listener_mu_

  mutable std::shared_mutex slots_mu_;
  std::map<std::string, std::shared_ptr<KeysetSlot>, std::less<>> slots_;  // guarded by slots_mu_
  std::mutex create_mu_;  // serialises keyset creation (unique names/issuers); before any slot mutex
};

}  // namespace keymgr
