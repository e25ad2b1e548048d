#include "keymgr/lifecycle_change.h"

#include "keymgr/key_window.h"

namespace keymgr {
using nlohmann::json;

db::LedgerEntry lifecycle_entry(const Keyset& ks, std::string_view event, TimePoint at, const Actor& actor,
                                std::string_view reason, const json& detail, std::string_view kid) {
  db::LedgerEntry e;
  e.ts_ms = to_unix_millis(at);
  e.kind = "lifecycle";
  e.event = std::string(event);
  e.keyset = ks.name;
  e.kid = std::string(kid);
  e.alg = std::string(algorithm_name(ks.alg));
  e.actor = actor.name;
  e.actor_addr = actor.addr;
  e.outcome = "ok";
  e.reason = std::string(reason);
  e.detail = detail.is_null() ? "" : detail.dump();
  return e;
}

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

Status add_transition(db::ChangeSet& cs, const Keyset& ks, const Key& k, KeyState to, Trigger trigger, TimePoint now,
                      const Actor& actor, std::string_view reason, const std::function<void(Key&)>& edit) {
  RETURN_IF_ERROR(check_transition(k.state, to, trigger));
  Key after = k;
  after.state = to;
  after.state_changed_at = whole_second(now);
  after.note = std::string(reason);
  if (edit) edit(after);
  db::KeyRecord r = key_to_record(after, ks.id);
  json d = {{"from", key_state_name(k.state)}, {"to", key_state_name(to)}, {"trigger", trigger_name(trigger)},
            {"activate_at", r.activate_at}, {"deactivate_at", r.deactivate_at}, {"retire_at", r.retire_at}};
  if (r.compromised_since) d["compromised_since"] = *r.compromised_since;
  db::LedgerEntry e = lifecycle_entry(ks, event_for(to), now, actor, reason, d, k.kid);
  e.alg = std::string(algorithm_name(k.alg));
  // A key appears once per change set; later edits replace earlier ones.
  bool replaced = false;
  for (auto& u : cs.key_updates) {
    if (u.hsm_id == r.hsm_id) {
      u = r;
      replaced = true;
    }
  }
  if (!replaced) cs.key_updates.push_back(std::move(r));
  cs.ledger.push_back(std::move(e));
  return Status::Ok();
}

}  // namespace keymgr
