#include "keymgr/key_service.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "hsm/public_key.h"

namespace keymgr {
namespace {
using nlohmann::json;
using std::chrono::seconds;

constexpr std::string_view kGenerating = "generating";

int64_t secs(TimePoint t) { return to_unix_seconds(t); }
// Windows are whole seconds and a window cut short ends with the second it was cut in, so a
// token signed earlier in that second (iat = that second) still lies inside its key's window; the
// state change already stops new signatures.
int64_t secs_ceil(TimePoint t) { return to_unix_seconds(t) + 1; }
TimePoint tp(int64_t s) { return from_unix_seconds(s); }

std::string event_for(KeyState to) {
  switch (to) {
    case KeyState::kPreActivation: return "key_generated";
    case KeyState::kActive: return "key_activated";
    case KeyState::kSuspended: return "key_suspended";
    case KeyState::kDeactivated: return "key_deactivated";
    case KeyState::kRetired: return "key_retired";
    case KeyState::kCompromised: return "key_compromised";
    case KeyState::kDestroyed: return "key_destroyed";
  }
  return "key_changed";
}

// Times of a key that signs from `activate_at` under `p`.
void set_window(db::KeyRecord& r, TimePoint activate_at, const Policy& p) {
  r.activate_at = secs(activate_at);
  r.deactivate_at = r.activate_at + p.sign_period.count();
  r.retire_at = r.deactivate_at + p.verify_grace.count();
  r.destroy_at = r.retire_at + p.destroy_after.count();
}

// Ends a key's signing window at `at` (never later than it was), keeping publication long enough
// for every token it may have signed.
// `end` is Unix seconds: secs_ceil(now) for a window cut now, or a planned future end.
void end_window(db::KeyRecord& r, int64_t end, const Policy& p) {
  r.deactivate_at = std::min(r.deactivate_at, end);
  r.retire_at = std::max(r.deactivate_at + p.verify_grace.count(), std::min(r.retire_at, end + p.verify_grace.count()));
  r.destroy_at = r.retire_at + p.destroy_after.count();
}

// A successor retired before it ever signed: its window collapses to `at`.
void retire_unused(db::KeyRecord& r, TimePoint at, const Policy& p) {
  r.activate_at = std::min(r.activate_at, secs(at));
  r.deactivate_at = std::min(r.deactivate_at, secs(at));
  r.retire_at = secs(at);
  r.destroy_at = secs(at) + p.destroy_after.count();
}
}  // namespace

struct KeyService::KeysetSlot {
  std::mutex mu;  // serialises changes to this keyset
  // Signers hold it shared; changes that can end a key's signing hold it exclusively (SignGuard).
  std::shared_ptr<FairSharedMutex> sign_mu = std::make_shared<FairSharedMutex>();
  mutable std::mutex health_mu;
  KeysetHealth health;     // guarded by health_mu
  std::optional<TimePoint> last_attempt;  // guarded by health_mu: when advance() last ran
  std::optional<TimePoint> last_gap_at;   // guarded by health_mu: the last signing gap, since start
};

namespace {
// Retry back-off of a keyset whose scheduler step failed: 1, 2, 4, then every 8 s, so a
// successor's generation gets several tries within the minimum rotation_lead.
seconds retry_after(int64_t failures) { return seconds(int64_t{1} << std::clamp<int64_t>(failures - 1, 0, 3)); }
}  // namespace

TimePoint published_safe_at(const Policy& p, TimePoint published_at) {
  return published_at + std::max(p.verifier_cache, p.jwks_max_age) + p.clock_skew;
}

std::optional<TimePoint> next_event(const Keyset& ks, TimePoint now, std::optional<TimePoint> last_pass,
                                    int64_t failures) {
  // Work: stays listed until advance() has done it. Health: moments when the verdict changes.
  std::vector<TimePoint> work, health;
  bool due_now = false;  // nothing signs and nothing is coming
  const Policy& p = ks.policy;
  const Key* active = ks.active_key();
  const Key* succ = ks.successor();
  bool suspended_now = false;
  for (const auto& k : ks.keys) {
    switch (k.state) {
      case KeyState::kActive: work.push_back(k.deactivate_at); break;
      case KeyState::kSuspended:
        work.push_back(k.deactivate_at);
        suspended_now = suspended_now || now < k.deactivate_at;
        break;
      case KeyState::kPreActivation:
        work.push_back(k.deactivate_at);  // its window passes unused
        if (&k == succ && !ks.disabled) work.push_back(k.activate_at);
        break;
      case KeyState::kDeactivated: work.push_back(k.retire_at); break;
      case KeyState::kRetired:
      case KeyState::kCompromised: work.push_back(k.destroy_at); break;
      case KeyState::kDestroyed: break;
    }
  }
  if (!ks.disabled) {
    if (active != nullptr) {
      if (succ == nullptr) {
        work.push_back(active->deactivate_at - p.prepublish - p.rotation_lead);  // generate the successor
        health.push_back(active->deactivate_at - p.prepublish);                 // rotation overdue from here
      }
      health.push_back(published_safe_at(p, active->created_at));  // an unpublished key becomes safe
    } else if (succ == nullptr && !suspended_now) {
      due_now = true;
    }
  }
  std::optional<TimePoint> best;
  auto consider = [&](TimePoint t) {
    if (!best || t < *best) best = t;
  };
  if (!last_pass) {
    if (due_now) return now;
    for (TimePoint t : work) consider(t);
    for (TimePoint t : health) {
      if (t > now) consider(t);
    }
    return best;
  }
  bool undone = due_now;
  for (TimePoint t : work) {
    if (t > *last_pass) consider(t);
    else undone = true;
  }
  for (TimePoint t : health) {
    if (t > *last_pass) consider(t);
  }
  // Work that was due at the last pass and is still there: that pass failed; retry after a pause
  // (a pass that failed before recording its failure counts as one failure).
  if (undone) consider(*last_pass + retry_after(std::max<int64_t>(failures, 1)));
  return best;
}

// ---------------------------------------------------------------- conversions

std::string issuer_path(std::string_view issuer) {
  const size_t scheme = issuer.find("://");
  const size_t slash = scheme == std::string_view::npos ? std::string_view::npos : issuer.find('/', scheme + 3);
  std::string p = slash == std::string_view::npos ? "" : std::string(issuer.substr(slash));
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

Result<Key> key_from_record(const db::KeyRecord& r) {
  Key k;
  k.kid = r.kid;
  k.hsm_id = r.hsm_id;
  auto alg = parse_algorithm(r.alg);
  if (!alg) return DataLoss("key " + r.hsm_id + " has unknown algorithm '" + r.alg + "'", "corrupt_metadata");
  k.alg = *alg;
  auto st = parse_key_state(r.state);
  if (!st) return DataLoss("key " + r.hsm_id + " has unknown state '" + r.state + "'", "corrupt_metadata");
  k.state = *st;
  k.jwk_text = r.public_jwk;
  if (!r.public_jwk.empty() && k.state != KeyState::kDestroyed) {
    k.jwk = json::parse(r.public_jwk, nullptr, false);
    if (k.jwk.is_discarded()) return DataLoss("key " + r.kid + " has an unreadable JWK", "corrupt_metadata");
  }
  k.created_at = tp(r.created_at);
  k.activate_at = tp(r.activate_at);
  k.deactivate_at = tp(r.deactivate_at);
  k.retire_at = tp(r.retire_at);
  k.destroy_at = tp(r.destroy_at);
  k.state_changed_at = tp(r.state_changed_at);
  if (r.compromised_since) k.compromised_since = tp(*r.compromised_since);
  k.note = r.note;
  k.emergency = r.emergency;
  return k;
}

db::KeyRecord key_to_record(const Key& k, int64_t keyset_id) {
  db::KeyRecord r;
  r.kid = k.kid;
  r.hsm_id = k.hsm_id;
  r.keyset_id = keyset_id;
  r.alg = std::string(algorithm_name(k.alg));
  r.state = std::string(key_state_name(k.state));
  r.public_jwk = k.jwk_text;
  r.created_at = secs(k.created_at);
  r.activate_at = secs(k.activate_at);
  r.deactivate_at = secs(k.deactivate_at);
  r.retire_at = secs(k.retire_at);
  r.destroy_at = secs(k.destroy_at);
  r.state_changed_at = secs(k.state_changed_at);
  if (k.compromised_since) r.compromised_since = secs(*k.compromised_since);
  r.note = k.note;
  r.emergency = k.emergency;
  return r;
}

void build_jwks(Keyset& ks) {
  json keys = json::array();
  // Signing key first, then the next one, then those kept for verification.
  auto rank = [](KeyState s) {
    switch (s) {
      case KeyState::kActive: return 0;
      case KeyState::kPreActivation: return 1;
      case KeyState::kSuspended: return 2;
      default: return 3;
    }
  };
  std::vector<const Key*> pub;
  for (const auto& k : ks.keys) {
    if (is_published(k.state) && !k.jwk.is_null()) pub.push_back(&k);
  }
  std::stable_sort(pub.begin(), pub.end(), [&](const Key* a, const Key* b) { return rank(a->state) < rank(b->state); });
  for (const Key* k : pub) {
    json j = k->jwk;
    j["iss"] = ks.issuer;
    j["key_state"] = std::string(key_state_name(k->state));
    j["activate_at"] = secs(k->activate_at);
    j["deactivate_at"] = secs(k->deactivate_at);
    j["retire_at"] = secs(k->retire_at);
    keys.push_back(std::move(j));
  }
  json doc = {{"keys", std::move(keys)}};
  ks.jwks = doc.dump();
  Bytes h = sha256(ks.jwks);
  h.resize(16);
  ks.etag = "\"" + hex_encode(h) + "\"";
}

const Key* Keyset::find(std::string_view kid) const {
  for (const auto& k : keys) {
    if (k.kid == kid) return &k;
  }
  return nullptr;
}

const Key* Keyset::active_key() const {
  for (const auto& k : keys) {
    if (k.state == KeyState::kActive) return &k;
  }
  return nullptr;
}

const Key* Keyset::successor() const {
  const Key* best = nullptr;
  for (const auto& k : keys) {
    if (k.state == KeyState::kPreActivation && (best == nullptr || k.activate_at < best->activate_at)) best = &k;
  }
  return best;
}

// ---------------------------------------------------------------- loading

KeyService::KeyService(hsm::Hsm& hsm, db::Store& store, const Clock& clock, Metrics* metrics)
    : hsm_(hsm), store_(store), clock_(clock), metrics_(metrics) {}

void KeyService::set_change_listener(std::function<void()> fn) {
  std::lock_guard lk(listener_mu_);
  on_change_ = std::move(fn);
}

std::shared_ptr<KeyService::KeysetSlot> KeyService::slot(std::string_view name) {
  std::unique_lock lk(mu_);
  auto it = slots_.find(name);
  if (it != slots_.end()) return it->second;
  auto s = std::make_shared<KeysetSlot>();
  s->health.keyset = std::string(name);
  slots_.emplace(std::string(name), s);
  return s;
}

void KeyService::publish(KeysetPtr ks) {
  std::unique_lock lk(mu_);
  auto old = by_name_.find(ks->name);
  if (old != by_name_.end()) {
    for (const auto& k : old->second->keys) name_by_kid_.erase(k.kid);
  }
  for (const auto& k : ks->keys) {
    if (!k.kid.empty()) name_by_kid_[k.kid] = ks->name;
  }
  name_by_issuer_[ks->issuer] = ks->name;
  name_by_issuer_path_[issuer_path(ks->issuer)] = ks->name;
  by_name_[ks->name] = std::move(ks);
  lk.unlock();
  std::lock_guard ll(listener_mu_);
  if (on_change_) on_change_();
}

Result<KeysetPtr> KeyService::reload_locked(std::string_view name) {
  ASSIGN_OR_RETURN(const db::KeysetRecord record, store_.get_keyset(name));
  const db::KeysetRecord* rec = &record;
  const int64_t keyset_id = rec->id;
  auto ks = std::make_shared<Keyset>();
  ks->id = rec->id;
  ks->name = rec->name;
  ks->issuer = rec->issuer;
  auto alg = parse_algorithm(rec->alg);
  if (!alg) return DataLoss("keyset " + rec->name + " has unknown algorithm", "corrupt_metadata");
  ks->alg = *alg;
  json pj = json::parse(rec->policy_json, nullptr, false);
  if (pj.is_discarded()) return DataLoss("keyset " + rec->name + " has an unreadable policy", "corrupt_metadata");
  ASSIGN_OR_RETURN(ks->policy, policy_from_json(pj));
  ks->disabled = rec->disabled;
  ks->created_at = tp(rec->created_at);
  ks->updated_at = tp(rec->updated_at);
  ASSIGN_OR_RETURN(auto rows, store_.list_keys(keyset_id));
  for (const auto& r : rows) {
    if (r.state == kGenerating) continue;  // intent rows are not keys yet
    ASSIGN_OR_RETURN(Key k, key_from_record(r));
    ks->keys.push_back(std::move(k));
  }
  std::sort(ks->keys.begin(), ks->keys.end(), [](const Key& a, const Key& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.kid > b.kid;
  });
  build_jwks(*ks);
  publish(ks);
  return KeysetPtr(ks);
}

Result<ReconcileReport> KeyService::load() {
  ASSIGN_OR_RETURN(auto all, store_.list_keysets());
  for (const auto& r : all) {
    auto s = slot(r.name);
    std::lock_guard lk(s->mu);
    auto ks = reload_locked(r.name);
    if (!ks.ok()) return ks.status().with_context("loading keyset '" + r.name + "'");
  }
  return reconcile();
}

Result<ReconcileReport> KeyService::reconcile() {
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
  std::map<std::string, bool> in_hsm;
  for (const auto& k : *hsm_keys) in_hsm[k.id] = false;

  for (const auto& ksr : keysets) {
    ASSIGN_OR_RETURN(auto rows, store_.list_keys(ksr.id));
    db::ChangeSet cs;
    std::vector<std::string> destroy_ids;
    const int64_t now = secs(clock_.now());
    for (const auto& r : rows) {
      auto it = in_hsm.find(r.hsm_id);
      bool present = it != in_hsm.end();
      if (present) it->second = true;
      if (r.state == kGenerating) {
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
        u.state_changed_at = now;
        u.note = "HSM object missing at reconcile";
        cs.key_updates.push_back(u);
        db::LedgerEntry e;
        e.ts_ms = to_unix_millis(clock_.now());
        e.kind = "lifecycle";
        e.event = "key_missing";
        e.keyset = ksr.name;
        e.kid = r.kid;
        e.alg = r.alg;
        e.actor = "reconcile";
        e.outcome = "error";
        e.reason = "HSM object missing; recorded as destroyed";
        e.detail = json{{"from", r.state}, {"to", "destroyed"}, {"hsm_id", r.hsm_id}}.dump();
        cs.ledger.push_back(std::move(e));
        rep.missing_marked++;
        rep.details.push_back("keyset " + ksr.name + ": key " + r.kid + " (" + r.state +
                              ") has no HSM object; recorded as destroyed");
      }
    }
    for (const auto& id : destroy_ids) {
      Status st = hsm_.destroy_key(id);
      if (!st.ok() && st.code() != ErrorCode::kNotFound) return st.with_context("reconcile");
    }
    if (!cs.key_deletes.empty() || !cs.key_updates.empty()) {
      auto applied = store_.apply(cs);
      if (!applied.ok()) return applied.status().with_context("reconcile");
      auto re = reload_locked(ksr.name);
      if (!re.ok()) return re.status();
    }
  }
  for (const auto& [id, seen] : in_hsm) {
    if (seen) continue;
    // An HSM object with keymgr's label and no metadata row: created by a generation whose
    // intent row was removed, or by a foreign writer. It never signed; destroy it.
    Status st = hsm_.destroy_key(id);
    if (!st.ok() && st.code() != ErrorCode::kNotFound) return st.with_context("reconcile orphan");
    rep.orphans_destroyed++;
    rep.details.push_back("destroyed orphan HSM key " + id + " (no metadata)");
  }
  rep.done = true;
  for (const auto& d : rep.details) spdlog::warn("reconcile: repaired: {}", d);
  return rep;
}

// ---------------------------------------------------------------- reads

std::vector<KeysetPtr> KeyService::keysets() const {
  std::shared_lock lk(mu_);
  std::vector<KeysetPtr> out;
  out.reserve(by_name_.size());
  for (const auto& [n, ks] : by_name_) out.push_back(ks);
  return out;
}

KeysetPtr KeyService::find_keyset(std::string_view name) const {
  std::shared_lock lk(mu_);
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

KeysetPtr KeyService::find_via(const std::map<std::string, std::string, std::less<>>& index,
                               std::string_view key) const {
  std::shared_lock lk(mu_);
  auto it = index.find(key);
  if (it == index.end()) return nullptr;
  auto k = by_name_.find(it->second);
  return k == by_name_.end() ? nullptr : k->second;
}

KeysetPtr KeyService::find_keyset_by_issuer(std::string_view issuer) const { return find_via(name_by_issuer_, issuer); }

KeysetPtr KeyService::find_keyset_by_issuer_path(std::string_view path) const {
  return find_via(name_by_issuer_path_, path);
}

KeysetPtr KeyService::find_keyset_by_kid(std::string_view kid) const { return find_via(name_by_kid_, kid); }

// ---------------------------------------------------------------- helpers

db::LedgerEntry KeyService::lifecycle_entry(const Keyset& ks, std::string_view event, const Actor& actor,
                                            std::string_view reason, const json& detail) const {
  db::LedgerEntry e;
  e.ts_ms = to_unix_millis(clock_.now());
  e.kind = "lifecycle";
  e.event = std::string(event);
  e.keyset = ks.name;
  e.alg = std::string(algorithm_name(ks.alg));
  e.actor = actor.name;
  e.actor_addr = actor.addr;
  e.outcome = "ok";
  e.reason = std::string(reason);
  e.detail = detail.is_null() ? "" : detail.dump();
  return e;
}

void KeyService::count(const char* metric, const std::string& keyset) const {
  if (metrics_ != nullptr) metrics_->inc(metric, "keyset=\"" + Metrics::label_value(keyset) + "\"");
}

bool KeyService::flag_unpublished(db::ChangeSet& cs, const Keyset& ks, const db::KeyRecord& key, TimePoint now,
                                  const Actor& actor) const {
  if (ks.keys.empty()) return false;  // a new keyset's first key: no verifier holds an older JWKS
  const TimePoint safe_at = published_safe_at(ks.policy, tp(key.created_at));
  if (now >= safe_at) return false;
  const int64_t needed = (safe_at - tp(key.created_at)) / seconds(1);
  db::LedgerEntry e = lifecycle_entry(
      ks, "key_signs_unpublished", actor,
      "key signs " + std::to_string(secs(now) - key.created_at) + "s after publication, before verifier_cache + " +
          "clock_skew (" + std::to_string(needed) + "s): verifiers holding an older JWKS reject its tokens until " +
          std::to_string(secs(safe_at)),
      json{{"published_at", key.created_at}, {"activate_at", secs(now)}, {"safe_at", secs(safe_at)},
           {"needed_s", needed}, {"emergency", key.emergency}});
  e.kid = key.kid;
  cs.ledger.push_back(std::move(e));
  return true;
}

void KeyService::report_unpublished(const Keyset& ks, const db::KeyRecord& key, TimePoint now) const {
  const TimePoint safe_at = published_safe_at(ks.policy, tp(key.created_at));
  spdlog::error(
      "keyset {}: key {} signs {}s after it was published, before verifier_cache + clock_skew: verifiers holding an "
      "older JWKS reject its tokens until {} (ledger: key_signs_unpublished)",
      ks.name, key.kid, secs(now) - key.created_at, secs(safe_at));
  count("keymgr_unpublished_activations_total", ks.name);
}

namespace {
// Builds the record + ledger entry of one transition, after checking the table.
Status transition(db::ChangeSet& cs, const Keyset& ks, const Key& k, KeyState to, Trigger trigger,
                  TimePoint now, const Actor& actor, std::string_view reason,
                  const std::function<void(db::KeyRecord&)>& edit = nullptr) {
  RETURN_IF_ERROR(check_transition(k.state, to, trigger));
  db::KeyRecord r = key_to_record(k, ks.id);
  r.state = std::string(key_state_name(to));
  r.state_changed_at = secs(now);
  r.note = std::string(reason);
  if (edit) edit(r);
  db::LedgerEntry e;
  e.ts_ms = to_unix_millis(now);
  e.kind = "lifecycle";
  e.event = event_for(to);
  e.keyset = ks.name;
  e.kid = k.kid;
  e.alg = std::string(algorithm_name(k.alg));
  e.actor = actor.name;
  e.actor_addr = actor.addr;
  e.outcome = "ok";
  e.reason = std::string(reason);
  json d = {{"from", key_state_name(k.state)}, {"to", key_state_name(to)}, {"trigger", trigger_name(trigger)},
            {"activate_at", r.activate_at}, {"deactivate_at", r.deactivate_at}, {"retire_at", r.retire_at}};
  if (r.compromised_since) d["compromised_since"] = *r.compromised_since;
  e.detail = d.dump();
  // A key appears once per change set; later edits replace earlier ones.
  for (auto& u : cs.key_updates) {
    if (u.hsm_id == r.hsm_id) {
      u = r;
      cs.ledger.push_back(std::move(e));
      return Status::Ok();
    }
  }
  cs.key_updates.push_back(std::move(r));
  cs.ledger.push_back(std::move(e));
  return Status::Ok();
}

// The latest version of key `k` inside a change set (after earlier transitions in it): `k` itself
// unless the change set holds an update of it, which is then materialised in `holder`.
const Key& current(const db::ChangeSet& cs, const Key& k, std::optional<Key>& holder) {
  for (const auto& u : cs.key_updates) {
    if (u.hsm_id == k.hsm_id) {
      auto r = key_from_record(u);
      if (r.ok()) {
        holder = std::move(*r);
        return *holder;
      }
    }
  }
  return k;
}

Status not_found_keyset(std::string_view name) {
  return NotFound("no keyset named '" + std::string(name) + "'", "keyset_not_found");
}

Status not_found_key(std::string_view name, std::string_view kid) {
  return NotFound("keyset '" + std::string(name) + "' has no key " + std::string(kid), "key_not_found");
}
}  // namespace

Result<db::KeyRecord> KeyService::generate_locked(const Keyset& ks, TimePoint activate_at, bool emergency) {
  ASSIGN_OR_RETURN(Bytes rnd, random_bytes(16));
  const std::string hsm_id = hex_encode(rnd);
  const TimePoint now = clock_.now();
  db::KeyRecord r;
  r.hsm_id = hsm_id;
  r.keyset_id = ks.id;
  r.alg = std::string(algorithm_name(ks.alg));
  r.state = std::string(kGenerating);
  r.created_at = secs(now);
  r.state_changed_at = secs(now);
  r.emergency = emergency;
  // Intent first: a crash after the HSM creates the key leaves a row that reconcile() finds.
  db::ChangeSet intent;
  intent.key_inserts.push_back(r);
  RETURN_IF_ERROR(store_.apply(intent).status());

  auto undo_intent = [&] {
    db::ChangeSet undo;
    undo.key_deletes.push_back(hsm_id);
    auto st = store_.apply(undo);
    if (!st.ok()) spdlog::error("keyset {}: could not remove key intent {}: {}", ks.name, hsm_id, st.status().to_string());
  };
  const std::string label = std::string(kKeyLabelPrefix) + ks.name + ":" + hsm_id.substr(0, 12);
  auto gen = hsm_.generate_key(ks.alg, hsm_id, label);
  if (!gen.ok()) {
    undo_intent();
    return gen.status().with_context("generating " + std::string(algorithm_name(ks.alg)) + " key for keyset '" +
                                     ks.name + "'");
  }
  json jwk = hsm::public_jwk(gen->public_key);
  const std::string kid = hsm::jwk_thumbprint(jwk);
  jwk["kid"] = kid;
  jwk["use"] = "sig";
  jwk["alg"] = std::string(jws_alg(ks.alg));
  r.kid = kid;
  r.public_jwk = jwk.dump();
  r.state = std::string(key_state_name(KeyState::kPreActivation));
  set_window(r, activate_at, ks.policy);
  return r;
}

// ---------------------------------------------------------------- operations

Result<KeysetPtr> KeyService::create_keyset(const NewKeyset& spec, const Actor& actor) {
  if (spec.name.empty() || spec.name.size() > 64 ||
      spec.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") != std::string::npos) {
    return InvalidArgument("keyset name must be 1-64 characters of a-z, 0-9, '-' and '_'", "bad_keyset_name");
  }
  if (spec.issuer.rfind("https://", 0) != 0 && spec.issuer.rfind("http://", 0) != 0) {
    return InvalidArgument("issuer must be an http(s) URL", "bad_issuer");
  }
  if (spec.issuer.size() > 512 || spec.issuer.find_first_of(" \t\r\n?#\"") != std::string::npos) {
    return InvalidArgument("issuer must be a URL without spaces, query or fragment", "bad_issuer");
  }
  RETURN_IF_ERROR(validate_policy(spec.policy));
  auto supported = hsm_.supported_algorithms();
  if (std::find(supported.begin(), supported.end(), spec.alg) == supported.end()) {
    return InvalidArgument("the HSM does not support " + std::string(algorithm_name(spec.alg)), "algorithm_unsupported");
  }
  std::lock_guard create_lk(create_mu_);
  if (find_keyset(spec.name)) return AlreadyExists("keyset '" + spec.name + "' exists", "keyset_exists");
  if (find_keyset_by_issuer(spec.issuer)) {
    return AlreadyExists("issuer '" + spec.issuer + "' already belongs to a keyset", "issuer_taken");
  }
  if (KeysetPtr other = find_keyset_by_issuer_path(issuer_path(spec.issuer))) {
    return AlreadyExists("issuer path '" + issuer_path(spec.issuer) + "' is already served for keyset '" + other->name + "'",
                         "issuer_path_taken");
  }
  const TimePoint now = clock_.now();
  db::KeysetRecord rec;
  rec.name = spec.name;
  rec.issuer = spec.issuer;
  rec.alg = std::string(algorithm_name(spec.alg));
  rec.policy_json = policy_to_json(spec.policy).dump();
  rec.created_at = secs(now);
  rec.updated_at = secs(now);
  db::ChangeSet cs;
  cs.keyset_upserts.push_back(rec);
  Keyset tmp;
  tmp.name = spec.name;
  tmp.alg = spec.alg;
  cs.ledger.push_back(lifecycle_entry(tmp, "keyset_created", actor, "",
                                      json{{"issuer", spec.issuer}, {"policy", policy_to_json(spec.policy)}}));
  ASSIGN_OR_RETURN(auto ids, store_.apply(cs));
  auto s = slot(spec.name);
  std::lock_guard lk(s->mu);
  ASSIGN_OR_RETURN(KeysetPtr ks, reload_locked(spec.name));
  // The first key signs at once (nothing is cached anywhere yet); advance() also prepares its successor.
  Status st = advance_locked(*ks, *s);
  if (!st.ok()) spdlog::error("keyset {}: first key not created yet: {}", spec.name, st.to_string());
  return find_keyset(spec.name);
}

Result<KeysetPtr> KeyService::update_policy(std::string_view name, const Policy& policy, const Actor& actor) {
  RETURN_IF_ERROR(validate_policy(policy));
  auto s = slot(name);
  std::lock_guard lk(s->mu);
  std::unique_lock sign_lock(*s->sign_mu);
  KeysetPtr ks = find_keyset(name);
  if (!ks) return not_found_keyset(name);
  db::KeysetRecord rec;
  rec.id = ks->id;
  rec.name = ks->name;
  rec.issuer = ks->issuer;
  rec.alg = std::string(algorithm_name(ks->alg));
  rec.policy_json = policy_to_json(policy).dump();
  rec.disabled = ks->disabled;
  rec.created_at = secs(ks->created_at);
  rec.updated_at = secs(clock_.now());
  db::ChangeSet cs;
  cs.keyset_upserts.push_back(rec);
  cs.ledger.push_back(lifecycle_entry(*ks, "policy_changed", actor, "",
                                      json{{"from", policy_to_json(ks->policy)}, {"to", policy_to_json(policy)}}));
  RETURN_IF_ERROR(store_.apply(cs).status());
  // Existing keys keep their windows: a policy change applies to keys generated from now on.
  return reload_locked(ks->name);
}

Result<KeysetPtr> KeyService::set_disabled(std::string_view name, bool disabled, const Actor& actor,
                                           std::string_view reason) {
  auto s = slot(name);
  std::lock_guard lk(s->mu);
  std::unique_lock sign_lock(*s->sign_mu);
  KeysetPtr ks = find_keyset(name);
  if (!ks) return not_found_keyset(name);
  db::KeysetRecord rec;
  rec.id = ks->id;
  rec.name = ks->name;
  rec.issuer = ks->issuer;
  rec.alg = std::string(algorithm_name(ks->alg));
  rec.policy_json = policy_to_json(ks->policy).dump();
  rec.disabled = disabled;
  rec.created_at = secs(ks->created_at);
  rec.updated_at = secs(clock_.now());
  db::ChangeSet cs;
  cs.keyset_upserts.push_back(rec);
  cs.ledger.push_back(lifecycle_entry(*ks, disabled ? "keyset_disabled" : "keyset_enabled", actor, reason, nullptr));
  RETURN_IF_ERROR(store_.apply(cs).status());
  return reload_locked(ks->name);
}

Result<KeysetPtr> KeyService::rotate(std::string_view name, const Actor& actor, std::string_view reason) {
  auto s = slot(name);
  std::lock_guard lk(s->mu);
  std::unique_lock sign_lock(*s->sign_mu);
  KeysetPtr ks = find_keyset(name);
  if (!ks) return not_found_keyset(name);
  const TimePoint now = clock_.now();
  const Key* active = ks->active_key();
  const Key* next = ks->successor();
  const seconds safe = std::max(ks->policy.verifier_cache, ks->policy.jwks_max_age) + ks->policy.clock_skew;
  db::ChangeSet cs;
  if (next != nullptr && now - next->created_at >= safe) {
    // Promote: it has been published long enough for every verifier to have it.
    RETURN_IF_ERROR(transition(cs, *ks, *next, KeyState::kActive, Trigger::kRotate, now, actor, reason,
                               [&](db::KeyRecord& r) { set_window(r, now, ks->policy); }));
    if (active != nullptr) {
      RETURN_IF_ERROR(transition(cs, *ks, *active, KeyState::kDeactivated, Trigger::kRotate, now, actor, reason,
                                 [&](db::KeyRecord& r) { end_window(r, secs_ceil(now), ks->policy); }));
    }
  } else if (next != nullptr) {
    const TimePoint safe_at = next->created_at + safe;
    return FailedPrecondition("the pre-published key " + next->kid + " is safe to promote only from " +
                                  std::to_string(secs(safe_at)) + " (verifiers may not have fetched it); use " +
                                  "emergency rotation to switch at once",
                              "successor_not_prepublished");
  } else {
    // No successor yet: pre-publish one now and end the active key's window when it becomes safe
    // (a future time: signers need not wait while the HSM generates).
    const TimePoint at = now + ks->policy.prepublish;
    sign_lock.unlock();
    ASSIGN_OR_RETURN(db::KeyRecord nk, generate_locked(*ks, at, false));
    sign_lock.lock();
    cs.key_updates.push_back(nk);
    db::LedgerEntry e = lifecycle_entry(*ks, "key_generated", actor, reason,
                                        json{{"activate_at", nk.activate_at}, {"deactivate_at", nk.deactivate_at},
                                             {"hsm_id", nk.hsm_id}});
    e.kid = nk.kid;
    cs.ledger.push_back(std::move(e));
    if (active != nullptr && active->deactivate_at > at) {
      db::KeyRecord r = key_to_record(*active, ks->id);
      end_window(r, secs(at), ks->policy);
      cs.key_updates.push_back(r);
      db::LedgerEntry e2 = lifecycle_entry(*ks, "key_window_shortened", actor, reason,
                                           json{{"deactivate_at", r.deactivate_at}, {"retire_at", r.retire_at}});
      e2.kid = active->kid;
      cs.ledger.push_back(std::move(e2));
    }
  }
  RETURN_IF_ERROR(store_.apply(cs).status());
  return reload_locked(ks->name);
}

Result<KeysetPtr> KeyService::emergency_rotate(std::string_view name, const Actor& actor, std::string_view reason) {
  auto s = slot(name);
  std::lock_guard lk(s->mu);
  KeysetPtr ks = find_keyset(name);
  if (!ks) return not_found_keyset(name);
  ASSIGN_OR_RETURN(db::KeyRecord nk, generate_locked(*ks, clock_.now(), true));
  // The old key kept signing while the HSM generated (RSA can take seconds): its window ends now,
  // read once no signer is between its check and its ledger record.
  std::unique_lock sign_lock(*s->sign_mu);
  const TimePoint now = clock_.now();
  set_window(nk, now, ks->policy);
  db::ChangeSet cs;
  nk.state = std::string(key_state_name(KeyState::kActive));
  cs.key_updates.push_back(nk);
  db::LedgerEntry e = lifecycle_entry(*ks, "key_emergency_activated", actor, reason,
                                      json{{"activate_at", nk.activate_at}, {"deactivate_at", nk.deactivate_at},
                                           {"hsm_id", nk.hsm_id}, {"emergency", true}});
  e.kid = nk.kid;
  cs.ledger.push_back(std::move(e));
  const bool unpublished = flag_unpublished(cs, *ks, nk, now, actor);
  for (const auto& k : ks->keys) {
    if (k.state == KeyState::kActive || k.state == KeyState::kSuspended) {
      RETURN_IF_ERROR(transition(cs, *ks, k, KeyState::kDeactivated, Trigger::kEmergency, now, actor, reason,
                                 [&](db::KeyRecord& r) { end_window(r, secs_ceil(now), ks->policy); }));
    } else if (k.state == KeyState::kPreActivation) {
      RETURN_IF_ERROR(transition(cs, *ks, k, KeyState::kRetired, Trigger::kEmergency, now, actor, reason,
                                 [&](db::KeyRecord& r) { retire_unused(r, now, ks->policy); }));
    }
  }
  auto applied = store_.apply(cs);
  if (!applied.ok()) {
    (void)hsm_.destroy_key(nk.hsm_id);  // the intent row stays for reconcile if this fails too
    return applied.status();
  }
  if (unpublished) report_unpublished(*ks, nk, now);
  return reload_locked(ks->name);
}

Result<KeysetPtr> KeyService::suspend(std::string_view name, std::string_view kid, const Actor& actor,
                                      std::string_view reason) {
  auto s = slot(name);
  std::lock_guard lk(s->mu);
  std::unique_lock sign_lock(*s->sign_mu);
  KeysetPtr ks = find_keyset(name);
  if (!ks) return not_found_keyset(name);
  const Key* k = ks->find(kid);
  if (k == nullptr) return not_found_key(name, kid);
  db::ChangeSet cs;
  RETURN_IF_ERROR(transition(cs, *ks, *k, KeyState::kSuspended, Trigger::kSuspend, clock_.now(), actor, reason));
  RETURN_IF_ERROR(store_.apply(cs).status());
  return reload_locked(ks->name);
}

Result<KeysetPtr> KeyService::resume(std::string_view name, std::string_view kid, const Actor& actor,
                                     std::string_view reason) {
  auto s = slot(name);
  std::lock_guard lk(s->mu);
  std::unique_lock sign_lock(*s->sign_mu);
  KeysetPtr ks = find_keyset(name);
  if (!ks) return not_found_keyset(name);
  const Key* k = ks->find(kid);
  if (k == nullptr) return not_found_key(name, kid);
  const TimePoint now = clock_.now();
  if (k->state == KeyState::kSuspended && now >= k->deactivate_at) {
    return FailedPrecondition("key " + k->kid + "'s signing window has ended; it cannot resume", "window_ended");
  }
  if (const Key* a = ks->active_key(); a != nullptr && a->kid != k->kid) {
    return FailedPrecondition("keyset already has an active key " + a->kid, "already_active");
  }
  db::ChangeSet cs;
  RETURN_IF_ERROR(transition(cs, *ks, *k, KeyState::kActive, Trigger::kResume, now, actor, reason));
  RETURN_IF_ERROR(store_.apply(cs).status());
  return reload_locked(ks->name);
}

Result<KeysetPtr> KeyService::compromise(std::string_view name, std::string_view kid,
                                         std::optional<TimePoint> suspected_since, const Actor& actor,
                                         std::string_view reason) {
  auto s = slot(name);
  std::lock_guard lk(s->mu);
  std::unique_lock sign_lock(*s->sign_mu);
  KeysetPtr ks = find_keyset(name);
  if (!ks) return not_found_keyset(name);
  const Key* k = ks->find(kid);
  if (k == nullptr) return not_found_key(name, kid);
  if (reason.empty()) return InvalidArgument("a compromise needs a reason", "reason_required");
  const TimePoint now = clock_.now();
  const TimePoint since = suspected_since.value_or(now);
  if (since > now) return InvalidArgument("suspected_since is in the future", "bad_time");
  const bool was_signing = k->state == KeyState::kActive;
  db::ChangeSet cs;
  RETURN_IF_ERROR(transition(cs, *ks, *k, KeyState::kCompromised, Trigger::kCompromise, now, actor, reason,
                             [&](db::KeyRecord& r) {
                               r.compromised_since = secs(since);
                               r.deactivate_at = std::min(r.deactivate_at, secs_ceil(now));
                               r.activate_at = std::min(r.activate_at, r.deactivate_at);
                               r.retire_at = std::max(r.deactivate_at, secs(now));
                               r.destroy_at = secs(now) + ks->policy.destroy_after.count();
                             }));
  // Record how many still-valid tokens the key signed since the suspected time.
  int64_t affected = 0;
  Status counted = store_.tokens_signed_since(k->kid, to_unix_millis(since), secs(now), [&](const db::LedgerEntry&) {
    ++affected;
    return true;
  });
  if (counted.ok()) {
    json d = json::parse(cs.ledger.back().detail);
    d["affected_tokens"] = affected;
    cs.ledger.back().detail = d.dump();
  }
  RETURN_IF_ERROR(store_.apply(cs).status());
  spdlog::warn("keyset {}: key {} marked compromised by {} (since {}, {} unexpired tokens affected)", ks->name, k->kid,
               actor.name, secs(since), affected);
  ASSIGN_OR_RETURN(KeysetPtr after, reload_locked(ks->name));
  if (was_signing) {
    // Keep the keyset signing with a fresh key now: the pre-published successor if there is one
    // (verifiers may already have it), else a new key; the scheduler retries if this fails.
    if (const Key* next = after->successor(); next != nullptr) {
      db::ChangeSet promote;
      Status st = transition(promote, *after, *next, KeyState::kActive, Trigger::kEmergency, now, actor,
                             "replaces compromised key " + k->kid,
                             [&](db::KeyRecord& r) {
                               set_window(r, now, after->policy);
                               r.emergency = true;
                             });
      bool unpublished = false;
      if (st.ok()) unpublished = flag_unpublished(promote, *after, promote.key_updates.back(), now, actor);
      if (st.ok()) st = store_.apply(promote).status();
      if (st.ok() && unpublished) report_unpublished(*after, promote.key_updates.back(), now);
      if (st.ok()) {
        auto re = reload_locked(after->name);
        if (re.ok()) after = *re;
      } else {
        spdlog::error("keyset {}: could not promote successor after compromise: {}", after->name, st.to_string());
      }
    }
    sign_lock.unlock();  // advance_locked takes it itself
    Status st = advance_locked(*after, *s);
    if (!st.ok()) spdlog::error("keyset {}: no replacement key after compromise yet: {}", ks->name, st.to_string());
    return find_keyset(name);
  }
  return after;
}

Result<KeysetPtr> KeyService::destroy(std::string_view name, std::string_view kid, const Actor& actor,
                                      std::string_view reason) {
  auto s = slot(name);
  std::lock_guard lk(s->mu);
  KeysetPtr ks = find_keyset(name);
  if (!ks) return not_found_keyset(name);
  const Key* k = ks->find(kid);
  if (k == nullptr) return not_found_key(name, kid);
  const TimePoint now = clock_.now();
  RETURN_IF_ERROR(check_transition(k->state, KeyState::kDestroyed, Trigger::kDestroy));
  Status st = hsm_.destroy_key(k->hsm_id);
  if (!st.ok() && st.code() != ErrorCode::kNotFound) return st;
  db::ChangeSet cs;
  RETURN_IF_ERROR(transition(cs, *ks, *k, KeyState::kDestroyed, Trigger::kDestroy, now, actor, reason));
  RETURN_IF_ERROR(store_.apply(cs).status());
  return reload_locked(ks->name);
}

Result<KeysetPtr> KeyService::extend(std::string_view name, std::string_view kid, TimePoint new_deactivate_at,
                                     const Actor& actor, std::string_view reason) {
  auto s = slot(name);
  std::lock_guard lk(s->mu);
  std::unique_lock sign_lock(*s->sign_mu);
  KeysetPtr ks = find_keyset(name);
  if (!ks) return not_found_keyset(name);
  const Key* k = ks->find(kid);
  if (k == nullptr) return not_found_key(name, kid);
  if (reason.empty()) return InvalidArgument("an extension needs a reason", "reason_required");
  const TimePoint now = clock_.now();
  if (k->state != KeyState::kActive && !(k->state == KeyState::kDeactivated && now < k->retire_at)) {
    return FailedPrecondition("only an active key, or a deactivated one still published, can be extended",
                              "transition_refused");
  }
  if (new_deactivate_at <= now || new_deactivate_at > now + ks->policy.sign_period) {
    return InvalidArgument("the new end must be in the future and at most one sign_period away", "bad_time");
  }
  if (const Key* a = ks->active_key(); k->state == KeyState::kDeactivated && a != nullptr) {
    return FailedPrecondition("keyset already has an active key " + a->kid, "already_active");
  }
  db::ChangeSet cs;
  db::KeyRecord r = key_to_record(*k, ks->id);
  r.deactivate_at = secs(new_deactivate_at);
  r.retire_at = r.deactivate_at + ks->policy.verify_grace.count();
  r.destroy_at = r.retire_at + ks->policy.destroy_after.count();
  r.state = std::string(key_state_name(KeyState::kActive));
  r.state_changed_at = secs(now);
  r.note = std::string(reason);
  cs.key_updates.push_back(r);
  db::LedgerEntry e = lifecycle_entry(*ks, "key_extended", actor, reason,
                                      json{{"from_deactivate_at", secs(k->deactivate_at)},
                                           {"to_deactivate_at", r.deactivate_at}, {"from", key_state_name(k->state)}});
  e.kid = k->kid;
  cs.ledger.push_back(std::move(e));
  RETURN_IF_ERROR(store_.apply(cs).status());
  spdlog::warn("keyset {}: key {} window extended to {} by {}: {}", ks->name, k->kid, r.deactivate_at, actor.name, reason);
  return reload_locked(ks->name);
}

// ---------------------------------------------------------------- scheduling

Status KeyService::advance(std::string_view name) {
  auto s = slot(name);
  std::lock_guard lk(s->mu);
  KeysetPtr ks = find_keyset(name);
  if (!ks) return not_found_keyset(name);
  return advance_locked(*ks, *s);
}

Status KeyService::advance_locked(const Keyset& ks_in, KeysetSlot& slot) {
  const Actor sched{"scheduler", ""};
  const Policy& p = ks_in.policy;
  Status result = Status::Ok();
  KeysetPtr ks = find_keyset(ks_in.name);
  if (!ks) return not_found_keyset(ks_in.name);
  // Signers are paused (sign guard) only when a transition that ends or starts signing is due:
  // most ticks change nothing and must not stall the sign path.
  TimePoint now = clock_.now();
  std::unique_lock sign_lock(*slot.sign_mu, std::defer_lock);
  auto signing_change_due = [&](TimePoint t) {
    for (const auto& k : ks->keys) {
      if ((k.state == KeyState::kActive || k.state == KeyState::kSuspended) && t >= k.deactivate_at) return true;
    }
    const Key* n = ks->successor();
    return n != nullptr && t >= n->activate_at && t < n->deactivate_at && !ks->disabled;
  };
  if (signing_change_due(now)) {
    sign_lock.lock();
    now = clock_.now();  // read under the guard: see SignGuard
  }

  {
    std::lock_guard hl(slot.health_mu);
    slot.last_attempt = now;
  }
  // 1. Time-driven transitions, in one change set.
  db::ChangeSet cs;
  std::vector<std::string> to_destroy;
  // A signing window that ends with no successor ready to take over is an incident: signing
  // stops (or an unpublished emergency key takes over below). Recorded with the reason.
  std::string gap;
  if (const Key* a = ks->active_key(); a != nullptr && now >= a->deactivate_at && !ks->disabled) {
    const Key* n = ks->successor();
    if (n == nullptr || now < n->activate_at || now >= n->deactivate_at) {
      std::string last_error;
      {
        std::lock_guard hl(slot.health_mu);
        last_error = slot.health.last_error;
      }
      json d = {{"deactivate_at", secs(a->deactivate_at)}};
      if (n == nullptr) {
        gap = "no successor had been generated";
        if (!last_error.empty()) gap += " (last scheduler error: " + last_error + ")";
      } else {
        gap = "successor " + n->kid + " may sign only from " + std::to_string(secs(n->activate_at)) +
              " (published at " + std::to_string(secs(n->created_at)) + ", prepublish " +
              format_duration(p.prepublish) + ")";
        d["successor"] = n->kid;
        d["successor_activate_at"] = secs(n->activate_at);
      }
      if (!last_error.empty()) d["last_error"] = last_error;
      gap = "signing window of key " + a->kid + " ended with no successor ready: " + gap;
      db::LedgerEntry e = lifecycle_entry(*ks, "signing_gap", sched, gap, d);
      e.kid = a->kid;
      e.outcome = "error";
      cs.ledger.push_back(std::move(e));
    }
  }
  for (const auto& k : ks->keys) {
    if ((k.state == KeyState::kActive || k.state == KeyState::kSuspended) && now >= k.deactivate_at) {
      RETURN_IF_ERROR(transition(cs, *ks, k, KeyState::kDeactivated, Trigger::kSchedule, now, sched, "signing window ended"));
    }
  }
  // Promote the successor whose time has come (deactivating whatever still signs).
  const Key* next = ks->successor();
  if (next != nullptr && now >= next->activate_at && now < next->deactivate_at && !ks->disabled) {
    for (const auto& k : ks->keys) {
      if (k.state == KeyState::kDestroyed) continue;
      std::optional<Key> holder;
      const Key& cur = current(cs, k, holder);
      if (cur.state == KeyState::kActive && cur.kid != next->kid) {
        RETURN_IF_ERROR(transition(cs, *ks, cur, KeyState::kDeactivated, Trigger::kSchedule, now, sched,
                                   "successor activated", [&](db::KeyRecord& r) { end_window(r, secs_ceil(now), p); }));
      }
    }
    RETURN_IF_ERROR(transition(cs, *ks, *next, KeyState::kActive, Trigger::kSchedule, now, sched, "activation time"));
  }
  for (const auto& k : ks->keys) {
    if (k.state == KeyState::kDestroyed) continue;
    std::optional<Key> holder;
    const Key* cur = &current(cs, k, holder);
    if (cur->state == KeyState::kDeactivated && now >= cur->retire_at) {
      RETURN_IF_ERROR(transition(cs, *ks, *cur, KeyState::kRetired, Trigger::kSchedule, now, sched, "verification grace ended"));
    } else if (cur->state == KeyState::kPreActivation && now >= cur->deactivate_at) {
      // A successor that never got to sign (its window passed): take it out of the JWKS.
      RETURN_IF_ERROR(transition(cs, *ks, *cur, KeyState::kRetired, Trigger::kDestroy, now, sched, "window passed unused",
                                 [&](db::KeyRecord& r) { retire_unused(r, now, p); }));
    }
    std::optional<Key> holder2;
    cur = &current(cs, k, holder2);
    if ((cur->state == KeyState::kRetired || cur->state == KeyState::kCompromised) && now >= cur->destroy_at) {
      to_destroy.push_back(cur->kid);
    }
  }
  if (!cs.key_updates.empty()) {
    RETURN_IF_ERROR(store_.apply(cs).status());
    ASSIGN_OR_RETURN(ks, reload_locked(ks->name));
    if (!gap.empty()) {
      spdlog::error("keyset {}: {} (ledger: signing_gap)", ks->name, gap);
      count("keymgr_signing_gaps_total", ks->name);
      std::lock_guard hl(slot.health_mu);
      slot.health.signing_gaps++;
      slot.last_gap_at = now;
    }
  }
  if (sign_lock.owns_lock()) sign_lock.unlock();  // what follows ends no window: HSM work never blocks signers
  // 2. Destroy HSM objects whose time came (each its own step: HSM first, then the record).
  for (const auto& kid : to_destroy) {
    const Key* k = ks->find(kid);
    if (k == nullptr) continue;
    Status st = hsm_.destroy_key(k->hsm_id);
    if (!st.ok() && st.code() != ErrorCode::kNotFound) {
      result = st.with_context("destroying key " + kid);
      continue;
    }
    db::ChangeSet d;
    RETURN_IF_ERROR(transition(d, *ks, *k, KeyState::kDestroyed, Trigger::kSchedule, now, sched, "destroy_after elapsed"));
    RETURN_IF_ERROR(store_.apply(d).status());
    ASSIGN_OR_RETURN(ks, reload_locked(ks->name));
  }

  // 3. Make sure something signs and the next key is pre-published in time.
  const Key* active = ks->active_key();
  const Key* succ = ks->successor();
  bool suspended_now = false;
  for (const auto& k : ks->keys) {
    if (k.state == KeyState::kSuspended && now < k.deactivate_at) suspended_now = true;
  }
  if (!ks->disabled) {
    if (active == nullptr && succ == nullptr && !suspended_now) {
      // Nothing signs and nothing is coming (new keyset, compromise, or a gap): a key signs at once.
      const bool bootstrap = ks->keys.empty();
      auto nk = generate_locked(*ks, now, !bootstrap);
      if (!nk.ok()) {
        result = nk.status();
      } else {
        db::ChangeSet g;
        nk->state = std::string(key_state_name(KeyState::kActive));
        g.key_updates.push_back(*nk);
        db::LedgerEntry e = lifecycle_entry(*ks, bootstrap ? "key_activated" : "key_emergency_activated", sched,
                                            bootstrap ? "first key of the keyset" : "no key could sign",
                                            json{{"activate_at", nk->activate_at}, {"deactivate_at", nk->deactivate_at},
                                                 {"hsm_id", nk->hsm_id}, {"emergency", !bootstrap}});
        e.kid = nk->kid;
        g.ledger.push_back(std::move(e));
        const bool unpublished = flag_unpublished(g, *ks, *nk, now, sched);
        Status st = store_.apply(g).status();
        if (!st.ok()) {
          (void)hsm_.destroy_key(nk->hsm_id);
          return st;
        }
        if (unpublished) report_unpublished(*ks, *nk, now);
        ASSIGN_OR_RETURN(ks, reload_locked(ks->name));
        active = ks->active_key();
        succ = ks->successor();
      }
    }
    if (active != nullptr && succ == nullptr && now >= active->deactivate_at - p.prepublish - p.rotation_lead) {
      const TimePoint at = std::max(active->deactivate_at, now + p.prepublish);
      auto nk = generate_locked(*ks, at, false);
      if (!nk.ok()) {
        result = nk.status();
      } else {
        db::ChangeSet g;
        g.key_updates.push_back(*nk);
        db::LedgerEntry e = lifecycle_entry(*ks, "key_generated", sched, "successor pre-published",
                                            json{{"activate_at", nk->activate_at}, {"deactivate_at", nk->deactivate_at},
                                                 {"hsm_id", nk->hsm_id}});
        e.kid = nk->kid;
        g.ledger.push_back(std::move(e));
        Status st = store_.apply(g).status();
        if (!st.ok()) {
          (void)hsm_.destroy_key(nk->hsm_id);
          return st;
        }
        ASSIGN_OR_RETURN(ks, reload_locked(ks->name));
        active = ks->active_key();
        succ = ks->successor();
      }
    }
  }

  // 4. Health: alert well before a gap bites.
  KeysetHealth h;
  h.keyset = ks->name;
  h.signing = active != nullptr && active->can_sign_at(now) && !ks->disabled;
  if (active != nullptr) h.active_since = active->activate_at;
  if (ks->disabled) {
    h.problem = "keyset disabled";
  } else if (active == nullptr) {
    h.problem = suspended_now ? "signing key suspended by an operator" : "no key can sign";
    h.overdue = !suspended_now;
  } else if (now < active->activate_at) {
    // Only a clock that went backwards gets here: nothing signs until time catches up again.
    h.overdue = true;
    h.problem = "the clock is before the active key's activation (" + std::to_string(secs(active->activate_at)) +
                "): did the clock jump backwards? nothing signs until it catches up";
  } else if (active->kid != ks->keys.back().kid && active->activate_at < published_safe_at(p, active->created_at) &&
             now < published_safe_at(p, active->created_at)) {
    // Signing unpublished: always reported (ledger, log, metric, health). After a signing gap it
    // is an incident that keeps /readyz not ready; an operator's deliberate emergency rotation or
    // compromise response is not one (taking the instance out of service would stop all signing).
    h.unpublished_until = published_safe_at(p, active->created_at);
    h.problem = "key " + active->kid + " signs but was published only at " + std::to_string(secs(active->created_at)) +
                ": verifiers holding an older JWKS reject its tokens until " +
                std::to_string(secs(*h.unpublished_until)) + " (verifier_cache + clock_skew after publication)";
    std::lock_guard hl(slot.health_mu);
    if (slot.last_gap_at && *slot.last_gap_at <= active->activate_at) {
      h.overdue = true;
      h.problem = "signing gap at " + std::to_string(secs(*slot.last_gap_at)) + "; " + h.problem;
    }
  } else if (now >= active->deactivate_at - p.prepublish &&
             (succ == nullptr || succ->activate_at > active->deactivate_at ||
              succ->created_at + p.prepublish > active->deactivate_at)) {
    h.overdue = true;
    h.problem = "rotation overdue: no successor published " + format_duration(p.prepublish) +
                " before the active key's window ends at " + std::to_string(secs(active->deactivate_at));
  }
  {
    std::lock_guard hl(slot.health_mu);
    h.consecutive_failures = result.ok() ? 0 : slot.health.consecutive_failures + 1;
    h.signing_gaps = slot.health.signing_gaps;
    h.last_error = result.ok() ? "" : result.to_string();
    if (h.overdue && (!slot.health.overdue || slot.health.problem != h.problem)) spdlog::error("keyset {}: {}", ks->name, h.problem);
    slot.health = h;
  }
  if (!result.ok()) spdlog::error("keyset {}: scheduler step failed: {}", ks->name, result.to_string());
  return result;
}

KeyService::SignGuard KeyService::sign_guard(std::string_view name) { return SignGuard(slot(name)->sign_mu); }

std::optional<TimePoint> KeyService::event_with_retry(const Keyset& ks, TimePoint now) const {
  std::shared_ptr<KeysetSlot> s;
  {
    std::shared_lock lk(mu_);
    auto it = slots_.find(ks.name);
    if (it != slots_.end()) s = it->second;
  }
  if (!s) return keymgr::next_event(ks, now);
  std::optional<TimePoint> last_pass;
  int64_t failures = 0;
  {
    std::lock_guard hl(s->health_mu);
    last_pass = s->last_attempt;
    failures = s->health.consecutive_failures;
  }
  return keymgr::next_event(ks, now, last_pass, failures);
}

std::optional<TimePoint> KeyService::next_event() const {
  const TimePoint now = clock_.now();
  std::optional<TimePoint> best;
  for (const auto& ks : keysets()) {
    auto ev = event_with_retry(*ks, now);
    if (ev && (!best || *ev < *best)) best = ev;
  }
  return best;
}

std::vector<std::string> KeyService::due_keysets(TimePoint now) const {
  std::vector<std::string> out;
  for (const auto& ks : keysets()) {
    auto ev = event_with_retry(*ks, now);
    if (ev && *ev <= now) out.push_back(ks->name);
  }
  return out;
}

KeysetHealth KeyService::health(std::string_view name) const {
  std::shared_ptr<KeysetSlot> s;
  {
    std::shared_lock lk(mu_);
    auto it = slots_.find(name);
    if (it == slots_.end()) return KeysetHealth{std::string(name)};
    s = it->second;
  }
  std::lock_guard hl(s->health_mu);
  return s->health;
}

std::vector<KeysetHealth> KeyService::health_all() const {
  std::vector<KeysetHealth> out;
  for (const auto& ks : keysets()) out.push_back(health(ks->name));
  return out;
}

Result<KeyService::SigningKey> KeyService::signing_key(std::string_view name, TimePoint now) {
  KeysetPtr ks = find_keyset(name);
  if (!ks) return not_found_keyset(name);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (ks->disabled) return FailedPrecondition("keyset '" + ks->name + "' is disabled", "keyset_disabled");
    const Key* a = ks->active_key();
    if (a != nullptr && a->can_sign_at(now)) return SigningKey{ks, a};
    const Key* next = ks->successor();
    const bool promotable = next != nullptr && next->activate_at <= now && now < next->deactivate_at;
    if (attempt == 0 && promotable) {
      // The scheduler has not run since the successor's time came: do its step now.
      Status st = advance(name);
      if (!st.ok()) return st;
      ks = find_keyset(name);
      if (!ks) return not_found_keyset(name);
      continue;
    }
    if (a != nullptr && now >= a->deactivate_at) {
      return Unavailable("keyset '" + ks->name + "': the active key's signing window ended and no successor is ready",
                         "key_expired");
    }
    if (a != nullptr && now < a->activate_at) {
      return Unavailable("keyset '" + ks->name + "': the active key's window has not started", "key_not_yet_active");
    }
    break;
  }
  return Unavailable("keyset '" + ks->name + "' has no key that may sign now", "no_signing_key");
}

}  // namespace keymgr
