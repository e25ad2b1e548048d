// Versioned schema for the SQLite store. Each migration runs in its own transaction together with
// its row in schema_migrations, so a crash leaves the schema at a whole version; re-running is a
// no-op. Append new migrations; never edit a released one.
// REQUIRES: called with the store's single write connection, before any other use.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "db/sqlite_util.h"

namespace keymgr::db {

// The newest schema version this build knows.
int64_t latest_schema_version();

// Brings the database to latest_schema_version(). Fails with kFailedPrecondition
// "schema_too_new" when the file was written by a newer build.
Status migrate(sqlite::Connection& conn, int64_t now_ms);

}  // namespace keymgr::db
