#include "keymgr/rotation_planner.h"

#include <algorithm>

#include "keymgr/key_window.h"

namespace keymgr {
namespace {
using nlohmann::json;
using std::chrono::seconds;

std::string unix_text(TimePoint t) { return std::to_string(to_unix_seconds(t)); }

bool suspended_at(const Keyset& ks, TimePoint now) {
  for (const auto& k : ks.keys) {
    if (k.state == KeyState::kSuspended && now < k.deactivate_at) return true;
  }
  return false;
}

// Retry back-off of a keyset whose scheduler step failed: 1, 2, 4, then every 8 s, so a
// successor's generation gets several tries within the minimum rotation_lead.
seconds retry_after(int64_t failures) { return seconds(int64_t{1} << std::clamp<int64_t>(failures - 1, 0, 3)); }
}  // namespace

TimePoint published_safe_at(const Policy& p, TimePoint published_at) {
  return published_at + std::max(p.verifier_cache, p.jwks_max_age) + p.clock_skew;
}

bool signing_change_due(const Keyset& ks, TimePoint t) {
  for (const auto& k : ks.keys) {
    if ((k.state == KeyState::kActive || k.state == KeyState::kSuspended) && t >= k.deactivate_at) return true;
  }
  const Key* n = ks.successor();
  return n != nullptr && t >= n->activate_at && t < n->deactivate_at && !ks.disabled;
}

namespace {
// Whether plan_transitions has anything to do at `now` (most passes: nothing). Checked without
// copying the keys: a keyset keeps every key it ever had.
bool any_transition_due(const Keyset& ks, TimePoint now) {
  if (signing_change_due(ks, now)) return true;
  for (const auto& k : ks.keys) {
    switch (k.state) {
      case KeyState::kDeactivated:
        if (now >= k.retire_at) return true;
        break;
      case KeyState::kPreActivation:
        if (now >= k.deactivate_at) return true;
        break;
      case KeyState::kRetired:
      case KeyState::kCompromised:
        if (now >= k.destroy_at) return true;
        break;
      default: break;
    }
  }
  return false;
}
}  // namespace

RotationPlan plan_transitions(const Keyset& ks, TimePoint now, const std::string& last_error) {
  RotationPlan plan;
  if (!any_transition_due(ks, now)) return plan;
  const Policy& p = ks.policy;
  // The working copy: each change lands here before the next. Destroyed keys never change (and a
  // keyset keeps every key it ever had), so they are left out.
  std::vector<Key> keys;
  for (const auto& k : ks.keys) {
    if (k.state != KeyState::kDestroyed) keys.push_back(k);
  }
  auto change = [&](Key& k, KeyState to, Trigger trigger, std::string reason,
                    const std::function<void(Key&)>& edit = nullptr) {
    KeyChange c{k, k, trigger, std::move(reason)};
    c.after.state = to;
    if (edit) edit(c.after);
    k = c.after;
    plan.changes.push_back(std::move(c));
  };

  // A signing window that ends with no successor ready to take over: signing stops (or an
  // unpublished emergency key takes over). The caller records it with this reason.
  if (const Key* a = ks.active_key(); a != nullptr && now >= a->deactivate_at && !ks.disabled) {
    const Key* n = ks.successor();
    if (n == nullptr || now < n->activate_at || now >= n->deactivate_at) {
      plan.gap_detail = {{"deactivate_at", to_unix_seconds(a->deactivate_at)}};
      std::string why;
      if (n == nullptr) {
        why = "no successor had been generated";
        if (!last_error.empty()) why += " (last scheduler error: " + last_error + ")";
      } else {
        why = "successor " + n->kid + " may sign only from " + unix_text(n->activate_at) + " (published at " +
              unix_text(n->created_at) + ", prepublish " + format_duration(p.prepublish) + ")";
        plan.gap_detail["successor"] = n->kid;
        plan.gap_detail["successor_activate_at"] = to_unix_seconds(n->activate_at);
      }
      if (!last_error.empty()) plan.gap_detail["last_error"] = last_error;
      plan.gap = "signing window of key " + a->kid + " ended with no successor ready: " + why;
      plan.gap_kid = a->kid;
    }
  }

  for (auto& k : keys) {
    if ((k.state == KeyState::kActive || k.state == KeyState::kSuspended) && now >= k.deactivate_at) {
      change(k, KeyState::kDeactivated, Trigger::kSchedule, "signing window ended");
    }
  }
  // Promote the successor whose time has come (deactivating whatever still signs).
  const Key* next_in_snapshot = ks.successor();
  if (next_in_snapshot != nullptr && now >= next_in_snapshot->activate_at && now < next_in_snapshot->deactivate_at &&
      !ks.disabled) {
    const std::string next_kid = next_in_snapshot->kid;
    for (auto& k : keys) {
      if (k.state == KeyState::kActive && k.kid != next_kid) {
        change(k, KeyState::kDeactivated, Trigger::kSchedule, "successor activated",
               [&](Key& w) { end_window(w, end_of_second(now), p); });
      }
    }
    for (auto& k : keys) {
      if (k.kid == next_kid) change(k, KeyState::kActive, Trigger::kSchedule, "activation time");
    }
  }
  for (auto& k : keys) {
    if (k.state == KeyState::kDestroyed) continue;
    if (k.state == KeyState::kDeactivated && now >= k.retire_at) {
      change(k, KeyState::kRetired, Trigger::kSchedule, "verification grace ended");
    } else if (k.state == KeyState::kPreActivation && now >= k.deactivate_at) {
      // A successor that never got to sign (its window passed): take it out of the JWKS.
      change(k, KeyState::kRetired, Trigger::kDiscard, "window passed unused",
             [&](Key& w) { collapse_window(w, now, p); });
    }
    if ((k.state == KeyState::kRetired || k.state == KeyState::kCompromised) && now >= k.destroy_at) {
      plan.destroy_kids.push_back(k.kid);
    }
  }
  return plan;
}

bool usage_rotation_due(const Keyset& ks, int64_t signatures, double rate) {
  const int64_t limit = ks.policy.max_signatures;
  if (limit <= 0 || ks.active_key() == nullptr || ks.successor() != nullptr) return false;
  const int64_t left = limit - signatures;
  if (left * 10 <= limit) return true;  // 90% used
  if (rate <= 0) return false;
  const double lead = static_cast<double>((ks.policy.prepublish + ks.policy.rotation_lead).count());
  return static_cast<double>(left) / rate <= lead;
}

std::optional<KeyToGenerate> plan_generation(const Keyset& ks, TimePoint now) {
  if (ks.disabled) return std::nullopt;
  const Policy& p = ks.policy;
  const Key* active = ks.active_key();
  const Key* succ = ks.successor();
  if (active == nullptr && succ == nullptr && !suspended_at(ks, now)) {
    // Nothing signs and nothing is coming (new keyset, compromise, or a gap): a key signs at once.
    return KeyToGenerate{ks.keys.empty() ? KeyToGenerate::Kind::kFirst : KeyToGenerate::Kind::kEmergency, now};
  }
  if (active != nullptr && succ == nullptr && now >= active->deactivate_at - p.prepublish - p.rotation_lead) {
    return KeyToGenerate{KeyToGenerate::Kind::kSuccessor, std::max(active->deactivate_at, now + p.prepublish)};
  }
  return std::nullopt;
}

KeysetHealth assess_health(const Keyset& ks, TimePoint now, std::optional<TimePoint> last_gap_at) {
  const Policy& p = ks.policy;
  const Key* active = ks.active_key();
  const Key* succ = ks.successor();
  const bool suspended_now = suspended_at(ks, now);
  KeysetHealth h;
  h.keyset = ks.name;
  h.signing = active != nullptr && active->can_sign_at(now) && !ks.disabled;
  if (active != nullptr) h.active_since = active->activate_at;
  if (ks.disabled) {
    h.problem = "keyset disabled";
  } else if (active == nullptr) {
    h.problem = suspended_now ? "signing key suspended by an operator" : "no key can sign";
    h.overdue = !suspended_now;
  } else if (now < active->activate_at) {
    // Only a clock that went backwards gets here: nothing signs until time catches up again.
    h.overdue = true;
    h.problem = "the clock is before the active key's activation (" + unix_text(active->activate_at) +
                "): did the clock jump backwards? nothing signs until it catches up";
  } else if (active != ks.first_key() && active->activate_at < published_safe_at(p, active->created_at) &&
             now < published_safe_at(p, active->created_at)) {
    // Signing unpublished: always reported (ledger, log, metric, health). After a signing gap it
    // is an incident that keeps /readyz not ready; an operator's deliberate emergency rotation or
    // compromise response is not one (taking the instance out of service would stop all signing).
    h.unpublished_until = published_safe_at(p, active->created_at);
    h.problem = "key " + active->kid + " signs but was published only at " + unix_text(active->created_at) +
                ": verifiers holding an older JWKS reject its tokens until " + unix_text(*h.unpublished_until) +
                " (verifier_cache + clock_skew after publication)";
    if (last_gap_at && *last_gap_at <= active->activate_at) {
      h.overdue = true;
      h.problem = "signing gap at " + unix_text(*last_gap_at) + "; " + h.problem;
    }
  } else if (now >= active->deactivate_at - p.prepublish &&
             (succ == nullptr || succ->activate_at > active->deactivate_at ||
              succ->created_at + p.prepublish > active->deactivate_at)) {
    h.overdue = true;
    h.problem = "rotation overdue: no successor published " + format_duration(p.prepublish) +
                " before the active key's window ends at " + unix_text(active->deactivate_at);
  }
  return h;
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

}  // namespace keymgr
