// RAII over the SQLite C API: connection, cached prepared statement, transaction guard, and the
// one mapping from SQLite result codes to Status. Private to db/ (no header outside db/ includes it).
//
// Thread-safety: a Connection and everything borrowed from it belong to one thread at a time; the
// store hands connections out under its own mutexes (see sqlite_store.cc). Nothing here locks.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/encoding.h"
#include "common/status.h"
#include "db/store.h"

namespace keymgr::db::sqlite {

using ::keymgr::db::kDatabaseUnavailable;
using ::keymgr::db::kLedgerUnavailable;

// Maps a SQLite result code (extended codes are enabled on every connection) to a Status:
//   READONLY/IOERR/FULL/CANTOPEN/BUSY/LOCKED/NOMEM -> kUnavailable with `unavailable_reason`
//   CONSTRAINT_UNIQUE/PRIMARYKEY                   -> kAlreadyExists
//   CONSTRAINT_FOREIGNKEY                          -> kFailedPrecondition "foreign_key_violation"
//   other CONSTRAINT                               -> kInvalidArgument "constraint_violation"
//   CORRUPT/NOTADB                                 -> kDataLoss "database_corrupt"
//   anything else                                  -> kInternal "database_error"
// The message names `op` and carries sqlite3_errstr (and sqlite3_errmsg when `db` is given).
Status to_status(int rc, sqlite3* db, std::string_view op, std::string_view unavailable_reason);

// A borrowed, cached prepared statement. Binds by 1-based index; text and blob binds are
// SQLITE_STATIC, so REQUIRES: bound values outlive the last step(). On destruction the statement is
// reset and its bindings cleared, so the cache entry is reusable and no read snapshot stays open.
class Query {
 public:
  Query(sqlite3_stmt* stmt, sqlite3* db, std::string_view unavailable_reason)
      : stmt_(stmt), db_(db), unavailable_reason_(unavailable_reason) {}
  ~Query();
  Query(Query&& o) noexcept
      : stmt_(o.stmt_), db_(o.db_), unavailable_reason_(o.unavailable_reason_), bind_rc_(o.bind_rc_) {
    o.stmt_ = nullptr;
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query& operator=(Query&&) = delete;

  Query& bind(int idx, int64_t v);
  Query& bind(int idx, std::string_view v);
  Query& bind(int idx, const Bytes& v);
  Query& bind(int idx, const std::optional<int64_t>& v);

  // true: a row is available; false: done. Errors are mapped with to_status().
  Result<bool> step(std::string_view op);
  // Makes the statement reusable for another set of bindings within the same borrow.
  void reset();
  // Steps to completion expecting no row (INSERT/UPDATE/DELETE).
  Status run(std::string_view op);

  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string text(int col) const;
  Bytes blob(int col) const;
  std::optional<int64_t> opt_int64(int col) const {
    return is_null(col) ? std::nullopt : std::optional<int64_t>(int64(col));
  }

 private:
  sqlite3_stmt* stmt_;
  sqlite3* db_;
  std::string_view unavailable_reason_;  // points at a static string
  void keep(int rc);
  int bind_rc_ = SQLITE_OK;  // first failed bind, reported by the next step()
};

// Creates the database file at `path` with mode 0600 if it does not exist yet, whatever the
// process umask. SQLite creates its -wal, -shm and -journal files with the main file's
// permission bits (unix VFS, findCreateFileMode), so they are 0600 too; without this, the
// database would be created 0644 & ~umask (SQLITE_DEFAULT_FILE_PERMISSIONS). An existing file is
// left as it is (an operator may have widened it on purpose). kUnavailable if it cannot be created.
Status create_private_file(const std::string& path);

// Owns one sqlite3 handle and its statement cache. Non-copyable, non-movable (Query keeps raw
// pointers into it).
class Connection {
 public:
  struct Options {
    int busy_timeout_ms = 5000;
    bool read_only = false;  // query_only: a reader can never write by mistake
    int cache_kib = 0;       // page cache size; 0 = SQLite's default (2 MiB)
  };
  static Result<std::unique_ptr<Connection>> open(const std::string& path, const Options& opts);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* handle() const { return db_; }

  // Runs one or more statements without results (DDL, pragmas, BEGIN/COMMIT).
  Status exec(const char* sql, std::string_view op, std::string_view unavailable_reason);
  // The cached statement for `sql`, prepared on first use (SQLITE_PREPARE_PERSISTENT).
  // REQUIRES: the same `sql` is not borrowed twice at once.
  Result<Query> prepare(const std::string& sql, std::string_view unavailable_reason = kDatabaseUnavailable);
  // Statement count in the cache (tests).
  size_t cached_statements() const { return cache_.size(); }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  // Dynamic ledger queries have at most a few thousand distinct shapes; past this many we drop the
  // cache rather than grow without bound.
  static constexpr size_t kMaxCachedStatements = 512;

  sqlite3* db_;
  std::map<std::string, std::unique_ptr<sqlite3_stmt, StmtDeleter>, std::less<>> cache_;
};

// BEGIN IMMEDIATE (takes the write lock up front, so a busy database fails here, before anything
// is written). Rolls back on destruction unless commit() succeeded.
class Transaction {
 public:
  static Result<Transaction> begin_immediate(Connection& c, std::string_view unavailable_reason);
  // Read transaction: one consistent snapshot across several statements.
  static Result<Transaction> begin_read(Connection& c);
  ~Transaction();
  Transaction(Transaction&& o) noexcept : c_(o.c_), reason_(o.reason_) { o.c_ = nullptr; }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction& operator=(Transaction&&) = delete;

  // On failure the transaction is rolled back (nothing of it remains).
  Status commit();

 private:
  Transaction(Connection* c, std::string_view reason) : c_(c), reason_(reason) {}
  Connection* c_;  // null once committed or rolled back
  std::string_view reason_;
};

}  // namespace keymgr::db::sqlite
