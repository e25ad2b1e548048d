// KeyService::reconcile: repairs what a crash or an outside hand left half-done between the store
// and the HSM (unfinished generations, orphan HSM objects, keys whose HSM object vanished).
#include <algorithm>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "keymgr/key_generation.h"
#include "keymgr/key_service.h"
#include "keymgr/leadership.h"
#include "keymgr/keyset_slot.h"
#include "keymgr/lifecycle_change.h"

namespace keymgr {

namespace {
// Whether the process that wrote an intent may still be generating that key. `owner` is that
// process's lease holder name "<instance_id>#<incarnation>" (Leadership::holder()): it may be busy
// only while the "instance:<instance_id>" lease is held by that very incarnation and unexpired,
// with one more `slack` for clock differences between this host and the database. A restarted
// instance takes its lease over on start, so its predecessor's intents are repaired at once. An
// owner without an incarnation (older builds) is judged by the lease's expiry alone; an intent
// without an owner by this process alone (a single instance, or a build before instances).
bool owner_alive(db::Store& store, const std::string& owner, const std::string& self,
                 std::chrono::milliseconds slack) {
  if (owner.empty() || owner == self) return false;
  auto l = store.read_lease(std::string(kInstanceLeasePrefix) + instance_of_holder(owner));
  if (!l.ok()) return true;  // cannot tell: leave it for a later pass
  if (!l->has_value()) return false;
  const bool has_incarnation = owner.find('#') != std::string::npos;
  if (has_incarnation && (*l)->holder != owner) return false;  // that incarnation is gone
  return (*l)->expires_at_ms + slack.count() > to_unix_millis(SystemClock().now());
}

// Refuses (stale_leader) unless `fence` still holds: checked before each HSM object is destroyed,
// which no later refusal could undo.
Status still_leading(db::Store& store, const db::Fence* fence) {
  if (fence == nullptr) return Status::Ok();
  db::ChangeSet check;
  check.fence = *fence;
  return store.apply(check).status();
}
}  // namespace

Result<ReconcileReport> KeyService::reconcile(const db::Fence* fence) {
  using nlohmann::json;
  ReconcileReport rep;
  // Freeze every change first (no keyset created, no key generated or changed), so the HSM listing
  // and the rows describe the same moment: a key generated between the two would otherwise look
  // missing, or its intent row unfinished. Signing goes on. Lock order: create_mu_, then slots.
  std::lock_guard create_lk(create_mu_);
  ASSIGN_OR_RETURN(auto keysets, store_.list_keysets());
  std::vector<std::shared_ptr<KeysetSlot>> frozen;
  std::vector<std::unique_lock<std::mutex>> locks;
  for (const auto& ksr : keysets) {
    frozen.push_back(slot(ksr.name));
    locks.emplace_back(frozen.back()->mu);
  }
  auto hsm_keys = hsm_.list_keys(kKeyLabelPrefix);
  if (!hsm_keys.ok()) {
    spdlog::error("reconcile: HSM unreachable, repair postponed: {}", hsm_keys.status().to_string());
    return rep;  // done = false
  }
  {
    // A module's view of the token can lag behind other processes' writes (hsm.h, refresh_view):
    // before a key is recorded as missing or an unfinished generation is judged by whether its
    // object exists, look again with a fresh view. Rare: only when a row names an unlisted key.
    ASSIGN_OR_RETURN(auto rows, store_.list_keys(std::nullopt));
    std::set<std::string> listed;
    for (const auto& k : *hsm_keys) listed.insert(k.id);
    const bool unlisted = std::any_of(rows.begin(), rows.end(), [&](const db::KeyRecord& r) {
      return r.state != key_state_name(KeyState::kDestroyed) && listed.count(r.hsm_id) == 0;
    });
    if (unlisted) {
      Status fresh = hsm_.refresh_view();
      if (fresh.ok()) hsm_keys = hsm_.list_keys(kKeyLabelPrefix);
      if (!fresh.ok() || !hsm_keys.ok()) {
        spdlog::error("reconcile: HSM view could not be refreshed, repair postponed: {}",
                      (fresh.ok() ? hsm_keys.status() : fresh).to_string());
        return rep;  // done = false: the scheduler reconciles again
      }
    }
  }
  std::map<std::string, bool> in_hsm;
  for (const auto& k : *hsm_keys) in_hsm[k.id] = false;
  const Actor actor{"reconcile", ""};
  int deferred = 0;  // intents left to a live owner

  for (const auto& ksr : keysets) {
    ASSIGN_OR_RETURN(auto rows, store_.list_keys(ksr.id));
    Keyset named;  // for the ledger entries
    named.name = ksr.name;
    db::ChangeSet cs;
    if (fence != nullptr) cs.fence = *fence;
    std::vector<std::string> destroy_ids;
    const TimePoint now = clock_.now();
    for (const auto& r : rows) {
      auto it = in_hsm.find(r.hsm_id);
      bool present = it != in_hsm.end();
      if (present) it->second = true;
      if (r.state == kGeneratingState) {
        // Another live instance may be generating this key right now: not ours to touch.
        if (owner_alive(store_, intent_owner(r.note), instance_id_, peer_clock_slack_)) {
          deferred++;  // reconcile again on the next pass (Scheduler): the owner may finish or die
          continue;
        }
        // Crash between "intent recorded" and "key committed": the key never reached a caller.
        if (present) destroy_ids.push_back(r.hsm_id);
        cs.key_deletes.push_back(r.hsm_id);
        rep.intents_removed++;
        rep.details.push_back("keyset " + ksr.name + ": removed unfinished key generation " + r.hsm_id +
                              (present ? " (HSM object destroyed)" : ""));
        continue;
      }
      if (!present && r.state != key_state_name(KeyState::kDestroyed)) {
        auto st = parse_key_state(r.state);
        if (!st || !check_transition(*st, KeyState::kDestroyed, Trigger::kReconcile).ok()) continue;
        db::KeyRecord u = r;
        u.state = std::string(key_state_name(KeyState::kDestroyed));
        u.state_changed_at = to_unix_seconds(now);
        u.note = "HSM object missing at reconcile";
        cs.key_updates.push_back(u);
        db::LedgerEntry e = lifecycle_entry(named, "key_missing", now, actor, "HSM object missing; recorded as destroyed",
                                            json{{"from", r.state}, {"to", "destroyed"}, {"hsm_id", r.hsm_id}}, r.kid);
        e.alg = r.alg;
        e.outcome = "error";
        cs.ledger.push_back(std::move(e));
        rep.missing_marked++;
        rep.details.push_back("keyset " + ksr.name + ": key " + r.kid + " (" + r.state +
                              ") has no HSM object; recorded as destroyed");
      }
    }
    if (!destroy_ids.empty()) RETURN_IF_ERROR(still_leading(store_, fence).with_context("reconcile"));
    for (const auto& id : destroy_ids) {
      Status st = hsm_.destroy_key(id);
      if (!st.ok() && st.code() != ErrorCode::kNotFound) return st.with_context("reconcile");
    }
    if (!cs.key_deletes.empty() || !cs.key_updates.empty()) {
      auto applied = apply_locked(cs);
      if (!applied.ok()) return applied.status().with_context("reconcile");
      auto re = reload_locked(ksr.name);
      if (!re.ok()) return re.status();
    }
  }
  {
    // Rows of keysets another instance created since the listing above count too: an HSM object
    // is an orphan only if no row at all names it.
    ASSIGN_OR_RETURN(auto all_rows, store_.list_keys(std::nullopt));
    for (const auto& r : all_rows) {
      auto it = in_hsm.find(r.hsm_id);
      if (it != in_hsm.end()) it->second = true;
    }
  }
  bool checked = false;
  for (const auto& [id, seen] : in_hsm) {
    if (seen) continue;
    if (!checked) {
      RETURN_IF_ERROR(still_leading(store_, fence).with_context("reconcile orphan"));
      checked = true;
    }
    // An HSM object with keymgr's label and no metadata row: created by a generation whose
    // intent row was removed, or by a foreign writer. It never signed; destroy it.
    Status st = hsm_.destroy_key(id);
    if (!st.ok() && st.code() != ErrorCode::kNotFound) return st.with_context("reconcile orphan");
    rep.orphans_destroyed++;
    rep.details.push_back("destroyed orphan HSM key " + id + " (no metadata)");
  }
  // With an intent left to its live owner, the pass is not done: the scheduler reconciles again
  // until that generation has finished or its owner is known dead.
  rep.done = deferred == 0;
  for (const auto& d : rep.details) spdlog::warn("reconcile: repaired: {}", d);
  return rep;
}

}  // namespace keymgr
