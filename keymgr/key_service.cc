#include "keymgr/key_service.h"

#include <algorithm>
#include <set>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "keymgr/key_generation.h"
#include "keymgr/keyset_slot.h"
#include "keymgr/key_window.h"
#include "keymgr/lifecycle_change.h"

namespace keymgr {
namespace {
using nlohmann::json;
using std::chrono::seconds;

int64_t secs(TimePoint t) { return to_unix_seconds(t); }
std::string unix_text(TimePoint t) { return std::to_string(secs(t)); }

const Actor kScheduler{"scheduler", ""};

Status not_found_keyset(std::string_view name) {
  return NotFound("no keyset named '" + std::string(name) + "'", "keyset_not_found");
}

Status not_found_key(std::string_view name, std::string_view kid) {
  return NotFound("keyset '" + std::string(name) + "' has no key " + std::string(kid), "key_not_found");
}

// Copies the windows a planner change computed onto the key being recorded.
std::function<void(Key&)> windows_of(const Key& after) {
  return [after](Key& k) {
    k.activate_at = after.activate_at;
    k.deactivate_at = after.deactivate_at;
    k.retire_at = after.retire_at;
    k.destroy_at = after.destroy_at;
  };
}
}  // namespace

struct KeyService::Locked {
  std::shared_ptr<KeysetSlot> slot;
  std::unique_lock<std::mutex> lock;
  KeysetPtr ks;
};

// ---------------------------------------------------------------- slots and loading

KeyService::KeyService(hsm::Hsm& hsm, db::Store& store, const Clock& clock, Metrics* metrics)
    : hsm_(hsm), store_(store), clock_(clock), metrics_(metrics) {}

void KeyService::set_change_listener(std::function<void()> fn) {
  std::lock_guard lk(listener_mu_);
  on_change_ = std::move(fn);
}

std::shared_ptr<KeyService::KeysetSlot> KeyService::slot(std::string_view name) {
  if (auto s = existing_slot(name)) return s;  // every signature comes here: no exclusive lock
  std::unique_lock lk(slots_mu_);
  auto it = slots_.find(name);
  if (it != slots_.end()) return it->second;
  auto s = std::make_shared<KeysetSlot>();
  s->health.keyset = std::string(name);
  slots_.emplace(std::string(name), s);
  return s;
}

std::shared_ptr<KeyService::KeysetSlot> KeyService::existing_slot(std::string_view name) const {
  std::shared_lock lk(slots_mu_);
  auto it = slots_.find(name);
  return it == slots_.end() ? nullptr : it->second;
}

Result<KeyService::Locked> KeyService::lock_keyset(std::string_view name) {
  if (!registry_.find(name)) return not_found_keyset(name);  // no slot for names that never existed
  Locked l{slot(name), {}, nullptr};
  l.lock = std::unique_lock(l.slot->mu);
  l.ks = registry_.find(name);
  if (!l.ks) return not_found_keyset(name);
  return l;
}

Result<KeysetPtr> KeyService::reload_locked(std::string_view name) {
  ASSIGN_OR_RETURN(const db::KeysetRecord rec, store_.get_keyset(name));
  ASSIGN_OR_RETURN(auto rows, store_.list_keys(rec.id));
  ASSIGN_OR_RETURN(std::shared_ptr<Keyset> ks, keyset_from_records(rec, rows));
  registry_.publish(ks);
  {
    std::lock_guard ll(listener_mu_);
    if (on_change_) on_change_();
  }
  return KeysetPtr(ks);
}

Result<ReconcileReport> KeyService::load(bool repair, const db::Fence* fence) {
  ASSIGN_OR_RETURN(Stored stored, read_stored(store_));
  return load_stored(std::move(stored), repair, fence);
}

Result<KeyService::Stored> KeyService::read_stored(db::Store& store) {
  // Two reads for the whole database (every keyset, then every key), not two per keyset: this is
  // most of loading 10,000 keysets. The keys are read after the keysets, so a keyset changed in
  // between is loaded with its older version and the next refresh() reloads it; signing is never
  // decided by a snapshot alone (the store admits each signature against the committed state).
  Stored out;
  ASSIGN_OR_RETURN(out.keysets, store.list_keysets());
  ASSIGN_OR_RETURN(out.keys, store.list_keys(std::nullopt));
  return out;
}

Result<ReconcileReport> KeyService::load_stored(Stored stored, bool repair, const db::Fence* fence) {
  std::unordered_map<int64_t, std::vector<db::KeyRecord>> by_keyset;
  for (auto& k : stored.keys) by_keyset[k.keyset_id].push_back(std::move(k));  // in (created_at, hsm_id) order
  for (const auto& r : stored.keysets) {
    auto s = slot(r.name);
    std::lock_guard lk(s->mu);
    // Read before the lock: never replace a snapshot a local operation published meanwhile.
    if (KeysetPtr cur = registry_.find(r.name); cur && cur->version >= r.version) continue;
    auto ks = keyset_from_records(r, by_keyset[r.id]);
    if (!ks.ok()) return ks.status().with_context("loading keyset '" + r.name + "'");
    registry_.publish(*ks);
  }
  {
    std::lock_guard ll(listener_mu_);
    if (on_change_) on_change_();
  }
  if (!repair) return ReconcileReport{};
  return reconcile(fence);
}

Result<std::vector<int64_t>> KeyService::apply_locked(db::ChangeSet& cs) {
  std::set<int64_t> ids;
  for (const auto& k : cs.keyset_upserts)
    if (k.id != 0) ids.insert(k.id);
  for (const auto& k : cs.key_inserts) ids.insert(k.keyset_id);
  for (const auto& k : cs.key_updates) ids.insert(k.keyset_id);
  std::vector<std::string> names;
  for (int64_t id : ids) {
    if (KeysetPtr ks = registry_.by_id(id)) {
      cs.expected_versions.emplace_back(id, ks->version);
      names.push_back(ks->name);
    }
  }
  auto r = store_.apply(cs);
  if (!r.ok() && r.status().reason() == "keyset_changed") {
    for (const auto& n : names) (void)reload_locked(n);
    if (metrics_) metrics_->inc("keymgr_keyset_conflicts_total", "");
    spdlog::warn("a change lost a race with another instance and was not applied: {}", r.status().message());
  }
  return r;
}

Result<int> KeyService::refresh() {
  ASSIGN_OR_RETURN(auto versions, store_.keyset_versions());
  int reloaded = 0;
  for (const auto& v : versions) {
    KeysetPtr cur = registry_.find(v.name);
    if (cur && cur->version == v.version) continue;
    auto s = slot(v.name);
    std::unique_lock lk(s->mu, std::try_to_lock);
    if (!lk.owns_lock()) continue;  // a local operation holds it and reloads when it commits
    cur = registry_.find(v.name);
    if (cur && cur->version >= v.version) continue;  // reloaded meanwhile
    auto ks = reload_locked(v.name);
    if (!ks.ok()) return ks.status().with_context("refreshing keyset '" + v.name + "'");
    ++reloaded;
  }
  return reloaded;
}

Result<bool> KeyService::refresh_keyset(std::string_view name) {
  auto s = slot(name);
  std::unique_lock lk(s->mu, std::try_to_lock);
  if (!lk.owns_lock()) return false;
  auto ks = reload_locked(name);
  if (!ks.ok()) return ks.status().with_context("refreshing keyset '" + std::string(name) + "'");
  return true;
}

// ---------------------------------------------------------------- reads

std::vector<KeysetPtr> KeyService::keysets() const { return registry_.all(); }
KeysetPtr KeyService::find_keyset(std::string_view name) const { return registry_.find(name); }
KeysetPtr KeyService::find_keyset_by_issuer(std::string_view issuer) const { return registry_.by_issuer(issuer); }
KeysetPtr KeyService::find_keyset_by_issuer_path(std::string_view path) const {
  return registry_.by_issuer_path(path);
}
KeysetPtr KeyService::find_keyset_by_kid(std::string_view kid) const { return registry_.by_kid(kid); }

// ---------------------------------------------------------------- incidents

void KeyService::count(const char* metric, const std::string& keyset) const {
  if (metrics_ != nullptr) metrics_->inc(metric, "keyset=\"" + Metrics::label_value(keyset) + "\"");
}

bool KeyService::flag_unpublished(db::ChangeSet& cs, const Keyset& ks, const Key& key, TimePoint now,
                                  const Actor& actor) const {
  if (ks.keys.empty()) return false;  // a new keyset's first key: no verifier holds an older JWKS
  const TimePoint safe_at = published_safe_at(ks.policy, key.created_at);
  if (now >= safe_at) return false;
  const int64_t needed = (safe_at - key.created_at) / seconds(1);
  cs.ledger.push_back(lifecycle_entry(
      ks, "key_signs_unpublished", now, actor,
      "key signs " + std::to_string(secs(now) - secs(key.created_at)) +
          "s after publication, before verifier_cache + clock_skew (" + std::to_string(needed) +
          "s): verifiers holding an older JWKS reject its tokens until " + unix_text(safe_at),
      json{{"published_at", secs(key.created_at)}, {"activate_at", secs(now)}, {"safe_at", secs(safe_at)},
           {"needed_s", needed}, {"emergency", key.emergency}},
      key.kid));
  return true;
}

void KeyService::report_unpublished(const Keyset& ks, const Key& key, TimePoint now) const {
  spdlog::error(
      "keyset {}: key {} signs {}s after it was published, before verifier_cache + clock_skew: verifiers holding an "
      "older JWKS reject its tokens until {} (ledger: key_signs_unpublished)",
      ks.name, key.kid, secs(now) - secs(key.created_at), secs(published_safe_at(ks.policy, key.created_at)));
  count("keymgr_unpublished_activations_total", ks.name);
}

// ---------------------------------------------------------------- operations

Result<KeysetPtr> KeyService::create_keyset(const NewKeyset& spec, const Actor& actor) {
  RETURN_IF_ERROR(check_new_keyset(spec.name, spec.issuer));  // keyset_rules.h: the same rules on every path
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
  Keyset tmp;
  tmp.name = spec.name;
  tmp.issuer = spec.issuer;
  tmp.alg = spec.alg;
  tmp.policy = spec.policy;
  tmp.created_at = whole_second(now);
  tmp.updated_at = tmp.created_at;
  db::ChangeSet cs;
  cs.keyset_upserts.push_back(keyset_to_record(tmp));
  cs.ledger.push_back(lifecycle_entry(tmp, "keyset_created", now, actor, "",
                                      json{{"issuer", spec.issuer}, {"policy", policy_to_json(spec.policy)}}));
  RETURN_IF_ERROR(apply_locked(cs).status());
  auto s = slot(spec.name);
  std::lock_guard lk(s->mu);
  RETURN_IF_ERROR(reload_locked(spec.name).status());
  // The first key signs at once (nothing is cached anywhere yet); advance() also prepares its successor.
  Status st = advance_locked(spec.name, *s);
  if (!st.ok()) spdlog::error("keyset {}: first key not created yet: {}", spec.name, st.to_string());
  return find_keyset(spec.name);
}

Result<KeysetPtr> KeyService::update_policy(std::string_view name, const Policy& policy, const Actor& actor) {
  RETURN_IF_ERROR(validate_policy(policy));
  ASSIGN_OR_RETURN(Locked l, lock_keyset(name));
  std::unique_lock sign_lock(*l.slot->sign_mu);
  const TimePoint now = clock_.now();
  Keyset next = *l.ks;
  next.policy = policy;
  next.updated_at = whole_second(now);
  db::ChangeSet cs;
  cs.keyset_upserts.push_back(keyset_to_record(next));
  cs.ledger.push_back(lifecycle_entry(*l.ks, "policy_changed", now, actor, "",
                                      json{{"from", policy_to_json(l.ks->policy)}, {"to", policy_to_json(policy)}}));
  RETURN_IF_ERROR(apply_locked(cs).status());
  // Existing keys keep their windows: a policy change applies to keys generated from now on.
  return reload_locked(name);
}

Result<KeysetPtr> KeyService::set_disabled(std::string_view name, bool disabled, const Actor& actor,
                                           std::string_view reason) {
  ASSIGN_OR_RETURN(Locked l, lock_keyset(name));
  std::unique_lock sign_lock(*l.slot->sign_mu);
  const TimePoint now = clock_.now();
  Keyset next = *l.ks;
  next.disabled = disabled;
  next.updated_at = whole_second(now);
  db::ChangeSet cs;
  cs.keyset_upserts.push_back(keyset_to_record(next));
  cs.ledger.push_back(lifecycle_entry(*l.ks, disabled ? "keyset_disabled" : "keyset_enabled", now, actor, reason));
  RETURN_IF_ERROR(apply_locked(cs).status());
  return reload_locked(name);
}

Result<KeysetPtr> KeyService::rotate(std::string_view name, const Actor& actor, std::string_view reason) {
  ASSIGN_OR_RETURN(Locked l, lock_keyset(name));
  const Keyset& ks = *l.ks;
  std::unique_lock sign_lock(*l.slot->sign_mu);
  const TimePoint now = clock_.now();
  const Key* active = ks.active_key();
  const Key* next = ks.successor();
  db::ChangeSet cs;
  std::optional<KeyGeneration> gen;
  if (next != nullptr && now >= published_safe_at(ks.policy, next->created_at)) {
    // Promote: it has been published long enough for every verifier to have it.
    RETURN_IF_ERROR(add_transition(cs, ks, *next, KeyState::kActive, Trigger::kRotate, now, actor, reason,
                                   [&](Key& k) { set_window(k, now, ks.policy); }));
    if (active != nullptr) {
      RETURN_IF_ERROR(add_transition(cs, ks, *active, KeyState::kDeactivated, Trigger::kRotate, now, actor, reason,
                                     [&](Key& k) { end_window(k, end_of_second(now), ks.policy); }));
    }
  } else if (next != nullptr) {
    return FailedPrecondition("the pre-published key " + next->kid + " is safe to promote only from " +
                                  unix_text(published_safe_at(ks.policy, next->created_at)) +
                                  " (verifiers may not have fetched it); use emergency rotation to switch at once",
                              "successor_not_prepublished");
  } else {
    // No successor yet: pre-publish one now and end the active key's window when it becomes safe
    // (a future time: signers need not wait while the HSM generates).
    const TimePoint at = whole_second(now + ks.policy.prepublish);
    sign_lock.unlock();
    ASSIGN_OR_RETURN(KeyGeneration g, KeyGeneration::start(hsm_, store_, ks, clock_.now(), false, nullptr, instance_id()));
    sign_lock.lock();
    set_window(g.key(), at, ks.policy);
    cs.key_updates.push_back(g.record(ks.id));
    cs.ledger.push_back(lifecycle_entry(ks, "key_generated", now, actor, reason,
                                        json{{"activate_at", secs(g.key().activate_at)},
                                             {"deactivate_at", secs(g.key().deactivate_at)}, {"hsm_id", g.key().hsm_id}},
                                        g.key().kid));
    if (active != nullptr && active->deactivate_at > at) {
      Key shortened = *active;
      end_window(shortened, at, ks.policy);
      cs.key_updates.push_back(key_to_record(shortened, ks.id));
      cs.ledger.push_back(lifecycle_entry(ks, "key_window_shortened", now, actor, reason,
                                          json{{"deactivate_at", secs(shortened.deactivate_at)},
                                               {"retire_at", secs(shortened.retire_at)}},
                                          active->kid));
    }
    gen.emplace(std::move(g));
  }
  RETURN_IF_ERROR(apply_locked(cs).status());
  if (gen) gen->committed();
  return reload_locked(name);
}

Result<KeysetPtr> KeyService::emergency_rotate(std::string_view name, const Actor& actor, std::string_view reason) {
  ASSIGN_OR_RETURN(Locked l, lock_keyset(name));
  const Keyset& ks = *l.ks;
  ASSIGN_OR_RETURN(KeyGeneration gen, KeyGeneration::start(hsm_, store_, ks, clock_.now(), true, nullptr, instance_id()));
  // The old key kept signing while the HSM generated (RSA can take seconds): its window ends now,
  // read once no signer is between its check and its ledger record.
  std::unique_lock sign_lock(*l.slot->sign_mu);
  const TimePoint now = clock_.now();
  Key& nk = gen.key();
  set_window(nk, now, ks.policy);
  nk.state = KeyState::kActive;
  db::ChangeSet cs;
  cs.key_updates.push_back(gen.record(ks.id));
  cs.ledger.push_back(lifecycle_entry(ks, "key_emergency_activated", now, actor, reason,
                                      json{{"activate_at", secs(nk.activate_at)}, {"deactivate_at", secs(nk.deactivate_at)},
                                           {"hsm_id", nk.hsm_id}, {"emergency", true}},
                                      nk.kid));
  const bool unpublished = flag_unpublished(cs, ks, nk, now, actor);
  for (const auto& k : ks.keys) {
    if (k.state == KeyState::kActive || k.state == KeyState::kSuspended) {
      RETURN_IF_ERROR(add_transition(cs, ks, k, KeyState::kDeactivated, Trigger::kEmergency, now, actor, reason,
                                     [&](Key& w) { end_window(w, end_of_second(now), ks.policy); }));
    } else if (k.state == KeyState::kPreActivation) {
      RETURN_IF_ERROR(add_transition(cs, ks, k, KeyState::kRetired, Trigger::kEmergency, now, actor, reason,
                                     [&](Key& w) { collapse_window(w, now, ks.policy); }));
    }
  }
  RETURN_IF_ERROR(apply_locked(cs).status());
  gen.committed();
  if (unpublished) report_unpublished(ks, nk, now);
  return reload_locked(name);
}

Result<KeysetPtr> KeyService::suspend(std::string_view name, std::string_view kid, const Actor& actor,
                                      std::string_view reason) {
  ASSIGN_OR_RETURN(Locked l, lock_keyset(name));
  std::unique_lock sign_lock(*l.slot->sign_mu);
  const Key* k = l.ks->find(kid);
  if (k == nullptr) return not_found_key(name, kid);
  db::ChangeSet cs;
  RETURN_IF_ERROR(add_transition(cs, *l.ks, *k, KeyState::kSuspended, Trigger::kSuspend, clock_.now(), actor, reason));
  RETURN_IF_ERROR(apply_locked(cs).status());
  return reload_locked(name);
}

Result<KeysetPtr> KeyService::resume(std::string_view name, std::string_view kid, const Actor& actor,
                                     std::string_view reason) {
  ASSIGN_OR_RETURN(Locked l, lock_keyset(name));
  std::unique_lock sign_lock(*l.slot->sign_mu);
  const Key* k = l.ks->find(kid);
  if (k == nullptr) return not_found_key(name, kid);
  const TimePoint now = clock_.now();
  if (k->state == KeyState::kSuspended && now >= k->deactivate_at) {
    return FailedPrecondition("key " + k->kid + "'s signing window has ended; it cannot resume", "window_ended");
  }
  if (const Key* a = l.ks->active_key(); a != nullptr && a->kid != k->kid) {
    return FailedPrecondition("keyset already has an active key " + a->kid, "already_active");
  }
  db::ChangeSet cs;
  RETURN_IF_ERROR(add_transition(cs, *l.ks, *k, KeyState::kActive, Trigger::kResume, now, actor, reason));
  RETURN_IF_ERROR(apply_locked(cs).status());
  return reload_locked(name);
}

Result<KeysetPtr> KeyService::compromise(std::string_view name, std::string_view kid,
                                         std::optional<TimePoint> suspected_since, const Actor& actor,
                                         std::string_view reason) {
  ASSIGN_OR_RETURN(Locked l, lock_keyset(name));
  std::unique_lock sign_lock(*l.slot->sign_mu);
  const Keyset& ks = *l.ks;
  const Key* k = ks.find(kid);
  if (k == nullptr) return not_found_key(name, kid);
  if (reason.empty()) return InvalidArgument("a compromise needs a reason", "reason_required");
  const TimePoint now = clock_.now();
  const TimePoint since = suspected_since.value_or(now);
  if (since > now) return InvalidArgument("suspected_since is in the future", "bad_time");
  const bool was_signing = k->state == KeyState::kActive;
  db::ChangeSet cs;
  RETURN_IF_ERROR(add_transition(cs, ks, *k, KeyState::kCompromised, Trigger::kCompromise, now, actor, reason,
                                 [&](Key& w) {
                                   w.compromised_since = whole_second(since);
                                   w.deactivate_at = std::min(w.deactivate_at, end_of_second(now));
                                   w.activate_at = std::min(w.activate_at, w.deactivate_at);
                                   w.retire_at = std::max(w.deactivate_at, whole_second(now));
                                   w.destroy_at = whole_second(now) + ks.policy.destroy_after;
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
  // Keep the keyset signing with a fresh key now. The pre-published successor (verifiers may
  // already have it) is promoted in the same transaction as the compromise, so no instance ever
  // reads the keyset with nothing to sign; without one, a new key follows (advance_locked below).
  const Key* next = was_signing ? ks.successor() : nullptr;
  Key promoted;
  bool unpublished = false;
  if (next != nullptr) {
    promoted = *next;
    promoted.emergency = true;
    db::ChangeSet promote;
    Status st = add_transition(promote, ks, *next, KeyState::kActive, Trigger::kEmergency, now, actor,
                               "replaces compromised key " + k->kid, [&](Key& w) {
                                 set_window(w, now, ks.policy);
                                 w.emergency = true;
                               });
    if (st.ok()) {
      unpublished = flag_unpublished(promote, ks, promoted, now, actor);
      for (auto& u : promote.key_updates) cs.key_updates.push_back(std::move(u));
      for (auto& e : promote.ledger) cs.ledger.push_back(std::move(e));
    } else {
      // The compromise itself must never fail for want of a successor: advance_locked replaces it.
      spdlog::error("keyset {}: could not promote successor after compromise: {}", ks.name, st.to_string());
    }
  }
  const std::string compromised_kid = k->kid;
  RETURN_IF_ERROR(apply_locked(cs).status());
  spdlog::warn("keyset {}: key {} marked compromised by {} (since {}, {} unexpired tokens affected)", ks.name,
               compromised_kid, actor.name, secs(since), affected);
  if (unpublished) report_unpublished(ks, promoted, now);
  ASSIGN_OR_RETURN(KeysetPtr after, reload_locked(name));
  if (!was_signing) return after;
  sign_lock.unlock();  // advance_locked takes it itself
  Status st = advance_locked(name, *l.slot);
  if (!st.ok()) spdlog::error("keyset {}: no replacement key after compromise yet: {}", name, st.to_string());
  return find_keyset(name);
}

Result<KeysetPtr> KeyService::destroy(std::string_view name, std::string_view kid, const Actor& actor,
                                      std::string_view reason) {
  ASSIGN_OR_RETURN(Locked l, lock_keyset(name));
  const Key* k = l.ks->find(kid);
  if (k == nullptr) return not_found_key(name, kid);
  const TimePoint now = clock_.now();
  RETURN_IF_ERROR(check_transition(k->state, KeyState::kDestroyed, Trigger::kDestroy));
  Status st = hsm_.destroy_key(k->hsm_id);
  if (!st.ok() && st.code() != ErrorCode::kNotFound) return st;
  db::ChangeSet cs;
  RETURN_IF_ERROR(add_transition(cs, *l.ks, *k, KeyState::kDestroyed, Trigger::kDestroy, now, actor, reason));
  RETURN_IF_ERROR(apply_locked(cs).status());
  return reload_locked(name);
}

Result<std::vector<db::KeyUsage>> KeyService::key_usage(std::string_view name) const {
  KeysetPtr ks = find_keyset(name);
  if (!ks) return NotFound("no keyset named '" + std::string(name) + "'", "keyset_not_found");
  std::vector<std::string> kids;
  for (const auto& k : ks->keys) {
    if (!k.kid.empty()) kids.push_back(k.kid);
  }
  return store_.key_usage(kids);
}

Result<std::vector<db::KeyUsageHour>> KeyService::key_usage_hours(std::string_view name, TimePoint from,
                                                                  TimePoint to) const {
  KeysetPtr ks = find_keyset(name);
  if (!ks) return NotFound("no keyset named '" + std::string(name) + "'", "keyset_not_found");
  std::vector<std::string> kids;
  for (const auto& k : ks->keys) {
    if (!k.kid.empty()) kids.push_back(k.kid);
  }
  return store_.key_usage_hours(kids, to_unix_millis(from), to_unix_millis(to));
}

Result<KeysetPtr> KeyService::retire_exhausted(std::string_view name, std::string_view kid, const Actor& actor) {
  ASSIGN_OR_RETURN(Locked l, lock_keyset(name));
  const Keyset& ks = *l.ks;
  const Key* k = ks.find(kid);
  if (k == nullptr) return not_found_key(name, kid);
  if (k->state != KeyState::kActive) return l.ks;
  const Key* next = ks.successor();
  // Without a successor, generate the replacement before the exhausted key stops (the HSM may take
  // seconds for RSA): signers meanwhile are refused by the store and wait for this keyset's mutex
  // here, then sign with the new key, so the keyset is never left with nothing to sign.
  std::optional<KeyGeneration> gen;
  if (next == nullptr) {
    ASSIGN_OR_RETURN(KeyGeneration g,
                     KeyGeneration::start(hsm_, store_, ks, clock_.now(), true, nullptr, instance_id()));
    gen.emplace(std::move(g));
  }
  std::unique_lock sign_lock(*l.slot->sign_mu);
  const TimePoint now = clock_.now();
  const std::string reason = "made its " + std::to_string(ks.policy.max_signatures) + " signatures (max_signatures)";
  db::ChangeSet cs;
  RETURN_IF_ERROR(add_transition(cs, ks, *k, KeyState::kDeactivated, Trigger::kUsageLimit, now, actor, reason,
                                 [&](Key& w) { end_window(w, end_of_second(now), ks.policy); }));
  Key promoted;
  if (next != nullptr) {
    promoted = *next;
    // Promoted before verifiers surely hold it: an emergency key, as after a compromise (a
    // successor pre-published in time, the usual case, is not one).
    const bool early = now < published_safe_at(ks.policy, next->created_at);
    RETURN_IF_ERROR(add_transition(cs, ks, *next, KeyState::kActive, Trigger::kUsageLimit, now, actor,
                                   "replaces key " + k->kid + ", which " + reason, [&](Key& w) {
                                     set_window(w, now, ks.policy);
                                     if (early) w.emergency = true;
                                   }));
    set_window(promoted, now, ks.policy);
    if (early) promoted.emergency = true;
  } else {
    Key& nk = gen->key();
    set_window(nk, now, ks.policy);
    nk.state = KeyState::kActive;
    cs.key_updates.push_back(gen->record(ks.id));
    cs.ledger.push_back(lifecycle_entry(ks, "key_emergency_activated", now, actor, "replaces key " + k->kid + ", which " + reason,
                                        json{{"activate_at", secs(nk.activate_at)}, {"deactivate_at", secs(nk.deactivate_at)},
                                             {"hsm_id", nk.hsm_id}, {"emergency", true}, {"trigger", "usage_limit"}},
                                        nk.kid));
    promoted = nk;
  }
  const bool unpublished = flag_unpublished(cs, ks, promoted, now, actor);
  const std::string exhausted = k->kid;
  RETURN_IF_ERROR(apply_locked(cs).status());
  if (gen) gen->committed();
  spdlog::warn("keyset {}: key {} {}; {} {} signs now", ks.name, exhausted, reason,
               next != nullptr ? "its successor" : "a new key", promoted.kid);
  count("keymgr_usage_limit_rotations_total", ks.name);
  if (unpublished) report_unpublished(ks, promoted, now);
  return reload_locked(name);
}

int KeyService::rotate_for_usage() {
  int rotated = 0;
  const TimePoint now = clock_.now();
  for (const KeysetPtr& ks : keysets()) {
    const Key* active = ks->active_key();
    if (ks->policy.max_signatures <= 0 || active == nullptr || ks->successor() != nullptr) continue;
    auto usage = store_.key_usage({active->kid});
    if (!usage.ok()) {
      spdlog::warn("keyset {}: cannot read key usage: {}", ks->name, usage.status().to_string());
      continue;
    }
    const int64_t used = usage->empty() ? 0 : usage->front().signatures;
    double rate = 0;
    {
      std::lock_guard lk(usage_mu_);
      auto it = usage_seen_.find(active->kid);
      if (it != usage_seen_.end() && now > it->second.first && used >= it->second.second) {
        rate = static_cast<double>(used - it->second.second) /
               std::chrono::duration<double>(now - it->second.first).count();
      }
      usage_seen_[active->kid] = {now, used};
    }
    if (!usage_rotation_due(*ks, used, rate)) continue;
    Actor actor{"scheduler", "local"};
    auto r = rotate(ks->name, actor,
                    "usage limit near: " + std::to_string(used) + " of " + std::to_string(ks->policy.max_signatures) +
                        " signatures made");
    if (r.ok()) {
      ++rotated;
    } else {
      spdlog::warn("keyset {}: usage-limit rotation failed: {}", ks->name, r.status().to_string());
    }
  }
  return rotated;
}

Result<KeysetPtr> KeyService::extend(std::string_view name, std::string_view kid, TimePoint new_deactivate_at,
                                     const Actor& actor, std::string_view reason) {
  ASSIGN_OR_RETURN(Locked l, lock_keyset(name));
  std::unique_lock sign_lock(*l.slot->sign_mu);
  const Keyset& ks = *l.ks;
  const Key* k = ks.find(kid);
  if (k == nullptr) return not_found_key(name, kid);
  if (reason.empty()) return InvalidArgument("an extension needs a reason", "reason_required");
  const TimePoint now = clock_.now();
  if (k->state != KeyState::kActive && !(k->state == KeyState::kDeactivated && now < k->retire_at)) {
    return FailedPrecondition("only an active key, or a deactivated one still published, can be extended",
                              "transition_refused");
  }
  if (new_deactivate_at <= now || new_deactivate_at > now + ks.policy.sign_period) {
    return InvalidArgument("the new end must be in the future and at most one sign_period away", "bad_time");
  }
  if (const Key* a = ks.active_key(); k->state == KeyState::kDeactivated && a != nullptr) {
    return FailedPrecondition("keyset already has an active key " + a->kid, "already_active");
  }
  if (k->state != KeyState::kActive) RETURN_IF_ERROR(check_transition(k->state, KeyState::kActive, Trigger::kExtend));
  Key extended = *k;
  extended.deactivate_at = whole_second(new_deactivate_at);
  extended.retire_at = extended.deactivate_at + ks.policy.verify_grace;
  extended.destroy_at = extended.retire_at + ks.policy.destroy_after;
  extended.state = KeyState::kActive;
  extended.state_changed_at = whole_second(now);
  extended.note = std::string(reason);
  db::ChangeSet cs;
  cs.key_updates.push_back(key_to_record(extended, ks.id));
  cs.ledger.push_back(lifecycle_entry(ks, "key_extended", now, actor, reason,
                                      json{{"from_deactivate_at", secs(k->deactivate_at)},
                                           {"to_deactivate_at", secs(extended.deactivate_at)},
                                           {"from", key_state_name(k->state)}},
                                      k->kid));
  RETURN_IF_ERROR(apply_locked(cs).status());
  spdlog::warn("keyset {}: key {} window extended to {} by {}: {}", ks.name, k->kid, secs(extended.deactivate_at),
               actor.name, reason);
  return reload_locked(name);
}

// ---------------------------------------------------------------- scheduling

Status KeyService::advance(std::string_view name, const db::Fence* fence) {
  ASSIGN_OR_RETURN(Locked l, lock_keyset(name));
  return advance_locked(name, *l.slot, fence);
}

namespace {
std::optional<db::Fence> fence_of(const db::Fence* f) { return f ? std::optional<db::Fence>(*f) : std::nullopt; }
}  // namespace

Result<KeysetPtr> KeyService::generate_planned_locked(const Keyset& ks, const KeyToGenerate& need, TimePoint now,
                                                      const db::Fence* fence) {
  using Kind = KeyToGenerate::Kind;
  ASSIGN_OR_RETURN(KeyGeneration gen,
                   KeyGeneration::start(hsm_, store_, ks, now, need.kind == Kind::kEmergency, fence, instance_id()));
  Key& nk = gen.key();
  set_window(nk, need.activate_at, ks.policy);
  db::ChangeSet cs;
  cs.fence = fence_of(fence);
  bool unpublished = false;
  json detail = {{"activate_at", secs(nk.activate_at)}, {"deactivate_at", secs(nk.deactivate_at)}, {"hsm_id", nk.hsm_id}};
  if (need.kind == Kind::kSuccessor) {
    cs.ledger.push_back(lifecycle_entry(ks, "key_generated", now, kScheduler, "successor pre-published", detail, nk.kid));
  } else {
    // Nothing signs: the new key signs at once.
    nk.state = KeyState::kActive;
    const bool first = need.kind == Kind::kFirst;
    detail["emergency"] = !first;
    cs.ledger.push_back(lifecycle_entry(ks, first ? "key_activated" : "key_emergency_activated", now, kScheduler,
                                        first ? "first key of the keyset" : "no key could sign", detail, nk.kid));
    unpublished = flag_unpublished(cs, ks, nk, now, kScheduler);
  }
  cs.key_updates.insert(cs.key_updates.begin(), gen.record(ks.id));
  RETURN_IF_ERROR(apply_locked(cs).status());
  gen.committed();
  if (unpublished) report_unpublished(ks, nk, now);
  return reload_locked(ks.name);
}

Status KeyService::advance_locked(std::string_view name, KeysetSlot& slot, const db::Fence* fence) {
  KeysetPtr ks = find_keyset(name);
  if (!ks) return not_found_keyset(name);
  // Signers are paused (sign guard) only when a transition that ends or starts signing is due:
  // most passes change nothing and must not stall the sign path.
  TimePoint now = clock_.now();
  std::unique_lock sign_lock(*slot.sign_mu, std::defer_lock);
  if (signing_change_due(*ks, now)) {
    sign_lock.lock();
    now = clock_.now();  // read under the guard: see SignGuard
  }
  std::string last_error;
  {
    std::lock_guard hl(slot.health_mu);
    slot.last_attempt = now;
    last_error = slot.health.last_error;
  }
  Status result = Status::Ok();

  // 1. Time-driven transitions, in one change set, with the signing gap if a window ends unserved.
  const RotationPlan plan = plan_transitions(*ks, now, last_error);
  if (!plan.changes.empty()) {
    db::ChangeSet cs;
    cs.fence = fence_of(fence);
    for (const auto& c : plan.changes) {
      RETURN_IF_ERROR(add_transition(cs, *ks, c.before, c.after.state, c.trigger, now, kScheduler, c.reason,
                                     windows_of(c.after)));
    }
    if (!plan.gap.empty()) {
      db::LedgerEntry e = lifecycle_entry(*ks, "signing_gap", now, kScheduler, plan.gap, plan.gap_detail, plan.gap_kid);
      e.outcome = "error";
      cs.ledger.push_back(std::move(e));
    }
    RETURN_IF_ERROR(apply_locked(cs).status());
    ASSIGN_OR_RETURN(ks, reload_locked(name));
    if (!plan.gap.empty()) {
      spdlog::error("keyset {}: {} (ledger: signing_gap)", name, plan.gap);
      count("keymgr_signing_gaps_total", ks->name);
      std::lock_guard hl(slot.health_mu);
      slot.health.signing_gaps++;
      slot.last_gap_at = now;
    }
  }
  if (sign_lock.owns_lock()) sign_lock.unlock();  // what follows ends no window: HSM work never blocks signers

  // 2. Destroy HSM objects whose time came (each its own step: HSM first, then the record).
  for (const auto& kid : plan.destroy_kids) {
    const Key* k = ks->find(kid);
    if (k == nullptr) continue;
    if (fence != nullptr) {
      // The HSM object goes first and cannot come back: make sure this instance still leads (a
      // destroy that is due is due for any leader, so a takeover right after this check destroys
      // the same object).
      db::ChangeSet check;
      check.fence = *fence;
      RETURN_IF_ERROR(apply_locked(check).status());
    }
    Status st = hsm_.destroy_key(k->hsm_id);
    if (!st.ok() && st.code() != ErrorCode::kNotFound) {
      result = st.with_context("destroying key " + kid);
      continue;
    }
    db::ChangeSet d;
    d.fence = fence_of(fence);
    RETURN_IF_ERROR(add_transition(d, *ks, *k, KeyState::kDestroyed, Trigger::kSchedule, now, kScheduler,
                                   "destroy_after elapsed"));
    RETURN_IF_ERROR(apply_locked(d).status());
    ASSIGN_OR_RETURN(ks, reload_locked(name));
  }

  // 3. Make sure something signs and the next key is pre-published in time (an emergency key may
  // itself need a successor at once when its window is short).
  for (int i = 0; i < 2; ++i) {
    auto need = plan_generation(*ks, now);
    if (!need) break;
    auto next = generate_planned_locked(*ks, *need, now, fence);
    if (!next.ok()) {
      result = next.status();
      break;
    }
    ks = *next;
  }

  // 4. Health: alert well before a gap bites.
  std::optional<TimePoint> last_gap_at;
  {
    std::lock_guard hl(slot.health_mu);
    last_gap_at = slot.last_gap_at;
  }
  KeysetHealth h = assess_health(*ks, now, last_gap_at);
  {
    std::lock_guard hl(slot.health_mu);
    h.consecutive_failures = result.ok() ? 0 : slot.health.consecutive_failures + 1;
    h.signing_gaps = slot.health.signing_gaps;
    h.last_error = result.ok() ? "" : result.to_string();
    if (h.overdue && (!slot.health.overdue || slot.health.problem != h.problem)) {
      spdlog::error("keyset {}: {}", ks->name, h.problem);
    }
    slot.health = h;
  }
  if (!result.ok()) spdlog::error("keyset {}: scheduler step failed: {}", ks->name, result.to_string());
  return result;
}

std::optional<TimePoint> KeyService::event_with_retry(const Keyset& ks, TimePoint now) const {
  auto s = existing_slot(ks.name);
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

KeyService::SignGuard KeyService::sign_guard(std::string_view name) { return SignGuard(slot(name)->sign_mu); }

KeysetHealth KeyService::health(std::string_view name) const {
  auto s = existing_slot(name);
  if (!s) return KeysetHealth{std::string(name)};
  std::lock_guard hl(s->health_mu);
  return s->health;
}

std::vector<KeysetHealth> KeyService::health_all() const {
  std::vector<KeysetHealth> out;
  for (const auto& ks : keysets()) out.push_back(health(ks->name));
  return out;
}

// ---------------------------------------------------------------- signing support

Status KeyService::promote_due_locked(std::string_view name, KeysetSlot& slot) {
  std::unique_lock sign_lock(*slot.sign_mu);
  const TimePoint now = clock_.now();  // read under the guard: see SignGuard
  KeysetPtr ks = find_keyset(name);
  if (!ks) return not_found_keyset(name);
  const Key* next = ks->successor();
  if (ks->disabled || next == nullptr || now < next->activate_at || now >= next->deactivate_at) return Status::Ok();
  db::ChangeSet cs;
  for (const auto& k : ks->keys) {
    if (k.state == KeyState::kActive) {
      RETURN_IF_ERROR(add_transition(cs, *ks, k, KeyState::kDeactivated, Trigger::kSchedule, now, kScheduler,
                                     "successor activated",
                                     [&](Key& w) { end_window(w, end_of_second(now), ks->policy); }));
    }
  }
  RETURN_IF_ERROR(add_transition(cs, *ks, *next, KeyState::kActive, Trigger::kSchedule, now, kScheduler,
                                 "activation time"));
  RETURN_IF_ERROR(apply_locked(cs).status());
  return reload_locked(name).status();
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
      // The scheduler has not run since the successor's time came: promote it (and nothing else:
      // the sign path never generates keys or runs the rest of the scheduler's pass).
      ASSIGN_OR_RETURN(Locked l, lock_keyset(name));
      RETURN_IF_ERROR(promote_due_locked(name, *l.slot));
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
