// Opens the Store backend a configured location selects: the one place that knows every backend.
//
//   a file path                          SQLite (db/sqlite_store.h), created if missing
//   postgresql://... or postgres://...   PostgreSQL (db/pg_store.h)
//
// Thread-safety: open_store() may be called concurrently; each call opens an independent Store.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "db/pg_store.h"
#include "db/sqlite_store.h"
#include "db/store.h"

namespace keymgr::db {

struct StoreConfig {
  std::string location;  // database.path, or a database URL
  StoreOptions options;  // every backend
  SqliteOptions sqlite;  // used when `location` selects SQLite
  PostgresOptions postgres;  // used when `location` is a PostgreSQL URL
};

// True when `location` names a PostgreSQL database rather than a file.
bool is_postgresql_url(const std::string& location);

Result<std::unique_ptr<Store>> open_store(const StoreConfig& config);

}  // namespace keymgr::db
