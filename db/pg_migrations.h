// Versioned schema for the PostgreSQL store (its own version line, independent of SQLite's). All
// pending migrations run in one transaction under a transaction-level advisory lock, so several
// instances starting at once apply each migration exactly once and none sees a half-built schema.
// Append new migrations; never edit a released one.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "db/pg_util.h"

namespace keymgr::db {

int64_t latest_pg_schema_version();

// Brings the database to latest_pg_schema_version(). kFailedPrecondition "schema_too_new" when a
// newer build has migrated it.
Status migrate_pg(pg::Connection& conn, int64_t now_ms);

}  // namespace keymgr::db
