// The ledger's hash chain as every backend keeps and checks it: linking new entries to the tail
// (ChainTail) and re-walking a stored ledger (verify_ledger_chain). The hash itself is defined in
// db/ledger_hash.h; storage is the backend's job, reached through ChainReader, so the same
// verification runs over SQLite, PostgreSQL or a test's vector.
//
// Thread-safety: ChainTail is a plain value (the backend guards its copy with its write lock);
// verify_ledger_chain() touches nothing but its arguments.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "common/encoding.h"
#include "common/status.h"
#include "db/ledger_hash.h"
#include "db/records.h"

namespace keymgr::db {

// a - b, clamped to the int64 range (timestamps come from outside and may be anything).
int64_t saturating_sub(int64_t a, int64_t b);

// The chain's tail as of some commit, plus the query metadata a backend may keep beside the ledger
// (ledger_meta in SQLite): the newest ts_ms, and the disorder bound D = the largest amount by which
// an entry's ts_ms was older than the newest ts_ms already in the ledger when it was appended. Every
// entry appended after entry y has ts_ms >= ts(y) - D; backends use that to page by time.
struct ChainTail {
  int64_t seq = 0;                     // 0: empty ledger
  Bytes hash = ledger_genesis_hash();  // hash of entry seq (genesis when empty)
  int64_t max_ts_ms = 0;               // meaningful only when seq > 0
  int64_t ts_disorder_ms = 0;

  // Links `e` after the tail: sets e.seq, e.prev_hash and e.hash, then advance(e).
  void link(LedgerEntry& e);
  // Moves the tail to `e` as stored (e.seq, e.hash, e.ts_ms); REQUIRES: e.seq == seq + 1.
  void advance(const LedgerEntry& e);
};

// What verify_ledger_chain() reads. REQUIRES: all calls of one verification see one consistent
// snapshot of the database (the backend opens a read transaction around it).
class ChainReader {
 public:
  virtual ~ChainReader() = default;
  // Entries with seq > after_seq in seq order, to `sink` until it returns false.
  virtual Status scan(int64_t after_seq, const std::function<bool(LedgerEntry&&)>& sink) = 0;
  // The newest `n` stored checkpoints, newest first; only seq and head are needed.
  virtual Result<std::vector<LedgerCheckpoint>> newest_checkpoints(int n) = 0;
  // The stored hash of entry `seq`, nullopt when there is no such entry.
  virtual Result<std::optional<Bytes>> entry_hash(int64_t seq) = 0;
  // The stored query metadata (max_ts_ms, ts_disorder_ms; seq and hash unused), nullopt when the
  // backend keeps none. A missing name reads as max_ts_ms 0, ts_disorder_ms -1.
  virtual Result<std::optional<ChainTail>> metadata() = 0;
};

// Re-walks the ledger from seq 1 and reports the first damage (ChainReport::problem starts with
// one of the words docs/ledger.md lists):
//   "removed" / "reordered"  a seq is missing or out of place, or an entry's content belongs at
//                            another position;
//   "altered"                an entry's hash or link does not verify;
//   "truncated"              the ledger ends before the newest checkpoints' seq, or before
//                            `committed_seq` (the highest seq this process knows it committed);
//   "checkpoint mismatch"    the entry at one of the newest three checkpoints does not carry its head;
//   "query metadata mismatch" the stored disorder bound understates the ledger's (pages would skip).
// Errors only for read failures; damage is a report with ok == false.
Result<ChainReport> verify_ledger_chain(ChainReader& reader, int64_t committed_seq);

}  // namespace keymgr::db
