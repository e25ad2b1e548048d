#include "db/ledger_chain.h"

#include <algorithm>
#include <string>
#include <utility>

namespace keymgr::db {

int64_t saturating_sub(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) return b > 0 ? INT64_MIN : INT64_MAX;
  return r;
}

void ChainTail::link(LedgerEntry& e) {
  e.seq = seq + 1;
  e.prev_hash = hash;
  e.hash = ledger_entry_hash(e.prev_hash, e);
  advance(e);
}

void ChainTail::advance(const LedgerEntry& e) {
  if (seq == 0 || e.ts_ms > max_ts_ms) {
    max_ts_ms = e.ts_ms;
  } else {
    ts_disorder_ms = std::max(ts_disorder_ms, saturating_sub(max_ts_ms, e.ts_ms));
  }
  seq = e.seq;
  hash = e.hash;
}

namespace {

// The newest few are enough: each covers everything before it, and the chain itself was checked.
constexpr int kCheckpointsChecked = 3;

Status check_checkpoints(ChainReader& reader, int64_t entries, ChainReport* rep) {
  ASSIGN_OR_RETURN(auto cps, reader.newest_checkpoints(kCheckpointsChecked));
  for (const auto& cp : cps) {
    if (cp.seq > entries) {
      rep->ok = false;
      rep->first_bad_seq = entries + 1;
      rep->problem = "truncated (checkpoint covers seq " + std::to_string(cp.seq) + ", ledger ends at " +
                     std::to_string(entries) + ")";
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(auto stored, reader.entry_hash(cp.seq));
    if (!stored || *stored != cp.head) {
      rep->ok = false;
      rep->first_bad_seq = cp.seq;
      rep->problem = "checkpoint mismatch (ledger rewritten up to seq " + std::to_string(cp.seq) + ")";
      return Status::Ok();
    }
  }
  return Status::Ok();
}

}  // namespace

Result<ChainReport> verify_ledger_chain(ChainReader& reader, int64_t committed_seq) {
  ChainReport rep;
  ChainTail tail;                     // what the next entry must link to; recomputed metadata
  std::optional<LedgerEntry> failed;  // first entry whose hash or link broke the chain
  Bytes failed_expected_prev;
  RETURN_IF_ERROR(reader.scan(0, [&](LedgerEntry&& e) {
    ++rep.entries;
    const int64_t expected_seq = tail.seq + 1;
    if (e.seq != expected_seq) {
      rep.ok = false;
      rep.first_bad_seq = e.seq;
      rep.problem = e.seq > expected_seq ? "removed" : "reordered";
      rep.problem += " (expected seq " + std::to_string(expected_seq) + ")";
      return false;
    }
    Bytes recomputed = ledger_entry_hash(tail.hash, e);
    if (e.prev_hash != tail.hash || recomputed != e.hash) {
      rep.ok = false;
      rep.first_bad_seq = e.seq;
      rep.problem = e.prev_hash != tail.hash ? "altered (prev_hash does not link)" : "altered";
      failed_expected_prev = tail.hash;
      failed = std::move(e);
      return false;
    }
    tail.advance(e);
    return true;
  }));
  if (failed) {
    // Distinguish a swap from an edit: if some later entry holds the content that belongs at this
    // position (it hashes to the stored hash here, or to its own stored hash, when placed at this
    // seq after the correct predecessor), the entries were moved, not edited.
    RETURN_IF_ERROR(reader.scan(failed->seq, [&](LedgerEntry&& other) {
      const int64_t other_seq = other.seq;
      const Bytes other_hash = other.hash;
      other.seq = failed->seq;
      Bytes h = ledger_entry_hash(failed_expected_prev, other);
      if (h == failed->hash || h == other_hash) {
        rep.problem = "reordered (content of seq " + std::to_string(failed->seq) + " found at seq " +
                      std::to_string(other_seq) + ")";
        return false;
      }
      return true;
    }));
    return rep;
  }
  if (!rep.ok) return rep;
  rep.head = tail.hash;
  if (rep.entries < committed_seq) {
    rep.ok = false;
    rep.first_bad_seq = rep.entries + 1;
    rep.problem = "truncated (this process committed up to seq " + std::to_string(committed_seq) + ")";
    return rep;
  }
  RETURN_IF_ERROR(check_checkpoints(reader, rep.entries, &rep));
  if (!rep.ok) return rep;
  // Not part of the chain, but an understated disorder bound would make pages skip entries.
  ASSIGN_OR_RETURN(auto stored, reader.metadata());
  if (stored &&
      (stored->ts_disorder_ms < tail.ts_disorder_ms || (rep.entries > 0 && stored->max_ts_ms != tail.max_ts_ms))) {
    rep.ok = false;
    rep.problem = "query metadata mismatch (ledger_meta: max_ts_ms " + std::to_string(stored->max_ts_ms) +
                  ", ts_disorder_ms " + std::to_string(stored->ts_disorder_ms) + "; recomputed " +
                  std::to_string(tail.max_ts_ms) + ", " + std::to_string(tail.ts_disorder_ms) + ")";
  }
  return rep;
}

}  // namespace keymgr::db
