// The signed ledger checkpoint format: the one definition of the bytes the audit key signs for a
// LedgerCheckpoint (db/records.h). docs/ledger.md describes the same text for auditors.
//
//   "keymgr-checkpoint-v1\n" <seq> "\n" <lowercase hex of head> "\n" <ts_ms>
//
// (decimal integers, no trailing newline). "Checkpoint" in db/ means this signed statement; a
// database's own checkpoints (SQLite's WAL) are called wal_checkpoint and stay in their backend.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "db/records.h"

namespace keymgr::db {

inline constexpr std::string_view kLedgerCheckpointTag = "keymgr-checkpoint-v1";

// The bytes a checkpoint signature covers (ignores cp.kid, cp.alg and cp.signature).
std::string ledger_checkpoint_signing_input(const LedgerCheckpoint& cp);

}  // namespace keymgr::db
