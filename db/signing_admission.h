// The sign-time rule the store enforces when a signature is recorded (Store::append_signature):
// the entry is written only if, in the same transaction, the key row named by entry.kid is in
// state "active", belongs to the keyset named by entry.keyset, that keyset is not disabled, and
// entry.ts_ms (the signer's clock at signing) is inside the key's signing window
// [activate_at, deactivate_at). Backends read the rows with whatever lock makes the rule exact
// against concurrent lifecycle writes (PostgreSQL: FOR SHARE; SQLite: the single writer), so once
// a suspend, compromise or disable has committed, no instance on that database records another
// signature with the key. Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "db/records.h"

namespace keymgr::db {

// Status::reason() of a refused signature.
inline constexpr std::string_view kKeyNotSigning = "key_not_signing";
// Status::reason() of a signature refused because its key reached entry.usage_limit.
inline constexpr std::string_view kKeyUsageExhausted = "key_usage_exhausted";

// What the rule needs of the key row and its keyset row, as committed.
struct SigningKeyRow {
  std::string keyset;  // the keyset's name
  bool keyset_disabled = false;
  std::string state;
  int64_t activate_at = 0;    // Unix seconds
  int64_t deactivate_at = 0;  // Unix seconds, exclusive
  int64_t signatures = 0;     // recorded so far (key_usage), read under the backend's lock
};

// Ok, or kFailedPrecondition "key_not_signing" saying why. `row` is null when no key has entry.kid.
// `signatures` counts the key's recorded signatures including those admitted before this one in
// the same batch: at entry.usage_limit (> 0) or beyond, kFailedPrecondition "key_usage_exhausted".
Status admit_signature(const LedgerEntry& entry, const SigningKeyRow* row, int64_t signatures = 0);

// For a group commit: the distinct kids of the entries to admit, sorted (the order backends lock
// key rows in, so two writers never wait for each other in a cycle).
std::vector<std::string> kids_to_admit(const std::vector<const LedgerEntry*>& entries, const std::vector<bool>& admit);
// Applies admit_signature() to every entry with admit[i] (rows: by kid, absent = no such key),
// counting each key's usage from rows[kid].signatures up as it admits: sets (*refusals)[i] for
// those refused and returns the entries to write, in order.
std::vector<const LedgerEntry*> admit_batch(const std::vector<const LedgerEntry*>& entries,
                                            const std::vector<bool>& admit,
                                            const std::map<std::string, SigningKeyRow>& rows,
                                            std::vector<Status>* refusals);
// What the admitted signatures add to each key's usage: kid → {count, newest ts_ms}, kids sorted
// (the order backends update usage rows in).
struct UsageDelta {
  int64_t signatures = 0;
  int64_t last_signed_ms = 0;
  std::map<int64_t, int64_t> per_hour;  // hour (Unix ms, a multiple of 3,600,000) -> signatures
};
std::map<std::string, UsageDelta> usage_deltas(const std::vector<const LedgerEntry*>& entries,
                                               const std::vector<bool>& admit, const std::vector<Status>& refusals);
// Expands the seqs of the written entries to one per entry of the batch (0 for a refused one).
std::vector<int64_t> seqs_for_batch(const std::vector<Status>& refusals, const std::vector<int64_t>& written_seqs);

}  // namespace keymgr::db
