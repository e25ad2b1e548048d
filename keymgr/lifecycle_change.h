// Lifecycle changes as the store records them: one builder for lifecycle ledger entries, and the
// helper that pairs every key transition (checked against the state table) with its entry in a
// change set, so that no key changes without a record of who, when and why.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "db/records.h"
#include "keymgr/keyset.h"

namespace keymgr {

// A `lifecycle` ledger entry about keyset `ks` (and key `kid` when given), outcome "ok".
db::LedgerEntry lifecycle_entry(const Keyset& ks, std::string_view event, TimePoint at, const Actor& actor,
                                std::string_view reason, const nlohmann::json& detail = nullptr,
                                std::string_view kid = {});

// The ledger event of a transition into `to` ("key_activated", ...).
std::string event_for(KeyState to);

// Adds key `k`'s move to `to` (refused unless the state table allows it for `trigger`): its new
// record (state, state_changed_at = now, note = reason, then `edit` on the windows) replaces an
// earlier change of the same key in `cs`, and its ledger entry is appended.
Status add_transition(db::ChangeSet& cs, const Keyset& ks, const Key& k, KeyState to, Trigger trigger, TimePoint now,
                      const Actor& actor, std::string_view reason, const std::function<void(Key&)>& edit = nullptr);

}  // namespace keymgr
