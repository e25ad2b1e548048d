// The SQLite backend of Store (db/store.h): one database file in WAL mode with synchronous=FULL,
// one write connection (every write, group commits included, runs on it under one mutex, so seq
// order is commit order), a pool of read-only connections, and WAL checkpoints on their own
// connection and thread, off the commit path. Several processes may open one file (the server and
// `keymgr token create`); each continues the chain from what the others committed.
//
// Thread-safety and errors: as Store. SQLite's result codes map to Status in db/sqlite_util.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "db/store.h"

namespace keymgr::db {

// Settings only the SQLite backend has.
struct SqliteOptions {
  int busy_timeout_ms = 5000;  // how long a write waits for another connection's lock
  // Page cache budget: half for the writer (the random-key indexes touch a page per entry), half
  // shared by the readers. Memory use grows to this as the ledger is written and queried.
  int cache_mib = 128;
  // WAL frames (pages) after which a background WAL checkpoint copies them into the database file
  // (past 4x that many, the writer checkpoints inline). Larger: hot index pages are written back
  // once for more commits, and the WAL file grows to about frames x 4 KiB. SQLite's own default is
  // 1,000.
  int wal_checkpoint_frames = 8192;
};

// Opens (creating if needed) and migrates the SQLite database at `path`.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, const StoreOptions& opts = {},
                                                 const SqliteOptions& sqlite = {});

// Counters only the SQLite backend has (tests, benchmarks).
struct SqliteStats {
  int64_t wal_checkpoints = 0;  // WAL checkpoints completed (background or inline safety net)
};

// nullopt when `store` is not a SQLite store. Thread-safe.
std::optional<SqliteStats> sqlite_stats(const Store& store);

}  // namespace keymgr::db
