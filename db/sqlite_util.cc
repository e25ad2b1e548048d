#include "db/sqlite_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace keymgr::db::sqlite {

Status to_status(int rc, sqlite3* db, std::string_view op, std::string_view unavailable_reason) {
  std::string msg(op);
  msg += ": ";
  msg += sqlite3_errstr(rc);
  if (db != nullptr) {
    const char* detail = sqlite3_errmsg(db);
    if (detail != nullptr && msg.find(detail) == std::string::npos) {
      msg += " (";
      msg += detail;
      msg += ")";
    }
  }
  switch (rc & 0xff) {
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
      return Unavailable(std::move(msg), std::string(unavailable_reason));
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return AlreadyExists(std::move(msg));
      }
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return FailedPrecondition(std::move(msg), "foreign_key_violation");
      return InvalidArgument(std::move(msg), "constraint_violation");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLoss(std::move(msg), "database_corrupt");
    default:
      return Internal(std::move(msg), "database_error");
  }
}

// ---- Query ----

Query::~Query() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

void Query::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_rc_ = SQLITE_OK;
}

// A failed bind (index out of range, TOOBIG) is remembered and returned by the next step(), so
// call sites can chain binds without losing the error.
void Query::keep(int rc) {
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

Query& Query::bind(int idx, int64_t v) {
  keep(sqlite3_bind_int64(stmt_, idx, v));
  return *this;
}
Query& Query::bind(int idx, std::string_view v) {
  // An empty string_view may carry a null pointer, which SQLite would store as NULL, not ''.
  keep(sqlite3_bind_text(stmt_, idx, v.data() != nullptr ? v.data() : "", static_cast<int>(v.size()), SQLITE_STATIC));
  return *this;
}
Query& Query::bind(int idx, const Bytes& v) {
  // A zero-length blob must still be a blob, not NULL: pass a non-null pointer.
  static const uint8_t kEmpty = 0;
  keep(sqlite3_bind_blob(stmt_, idx, v.empty() ? &kEmpty : v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
  return *this;
}
Query& Query::bind(int idx, const std::optional<int64_t>& v) {
  if (v) {
    keep(sqlite3_bind_int64(stmt_, idx, *v));
  } else {
    keep(sqlite3_bind_null(stmt_, idx));
  }
  return *this;
}

Result<bool> Query::step(std::string_view op) {
  if (bind_rc_ != SQLITE_OK) return to_status(bind_rc_, db_, op, unavailable_reason_);
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return to_status(rc, db_, op, unavailable_reason_);
}

Status Query::run(std::string_view op) {
  ASSIGN_OR_RETURN(bool row, step(op));
  if (row) return Internal(std::string(op) + ": statement unexpectedly returned a row", "database_error");
  return Status::Ok();
}

std::string Query::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  int n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(n));
}

Bytes Query::blob(int col) const {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  int n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? Bytes() : Bytes(p, p + n);
}

Status create_private_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Status::Ok();
    return Unavailable("create database '" + path + "': " + std::strerror(errno), std::string(kDatabaseUnavailable));
  }
  // open() applied the umask; a umask with owner bits (e.g. 0277) must not leave it unwritable.
  const int rc = ::fchmod(fd, S_IRUSR | S_IWUSR);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) {
    return Unavailable("chmod 0600 '" + path + "': " + std::strerror(saved), std::string(kDatabaseUnavailable));
  }
  return Status::Ok();
}

// ---- Connection ----

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path, const Options& opts) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // The handle must be closed even when open fails (sqlite3_open_v2 may still allocate it).
  std::unique_ptr<Connection> conn(new Connection(raw));
  if (rc != SQLITE_OK) {
    return to_status(rc, raw, "open database '" + path + "'", kDatabaseUnavailable);
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, opts.busy_timeout_ms);
  RETURN_IF_ERROR(conn->exec("PRAGMA foreign_keys=ON", "enable foreign keys", kDatabaseUnavailable));
  if (opts.cache_kib > 0) {
    std::string pragma = "PRAGMA cache_size=-" + std::to_string(opts.cache_kib);
    RETURN_IF_ERROR(conn->exec(pragma.c_str(), "set cache_size", kDatabaseUnavailable));
  }
  if (opts.read_only) {
    RETURN_IF_ERROR(conn->exec("PRAGMA query_only=ON", "set query_only", kDatabaseUnavailable));
  }
  return conn;
}

Connection::~Connection() {
  cache_.clear();  // statements must be finalized before the handle closes
  sqlite3_close_v2(db_);
}

Status Connection::exec(const char* sql, std::string_view op, std::string_view unavailable_reason) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  sqlite3_free(err);  // to_status reads the same text from sqlite3_errmsg
  if (rc != SQLITE_OK) return to_status(rc, db_, op, unavailable_reason);
  return Status::Ok();
}

Result<Query> Connection::prepare(const std::string& sql, std::string_view unavailable_reason) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    if (cache_.size() >= kMaxCachedStatements) cache_.clear();
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                                nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return to_status(rc, db_, "prepare statement", unavailable_reason);
    }
    it = cache_.emplace(sql, std::unique_ptr<sqlite3_stmt, StmtDeleter>(stmt)).first;
  }
  return Query(it->second.get(), db_, unavailable_reason);
}

// ---- Transaction ----

Result<Transaction> Transaction::begin_immediate(Connection& c, std::string_view unavailable_reason) {
  RETURN_IF_ERROR(c.exec("BEGIN IMMEDIATE", "begin write transaction", unavailable_reason));
  return Transaction(&c, unavailable_reason);
}

Result<Transaction> Transaction::begin_read(Connection& c) {
  RETURN_IF_ERROR(c.exec("BEGIN", "begin read transaction", kDatabaseUnavailable));
  return Transaction(&c, kDatabaseUnavailable);
}

Transaction::~Transaction() {
  // sqlite3_get_autocommit() is true when SQLite already rolled back on its own (e.g. after an
  // IOERR); a second ROLLBACK would only produce an error.
  if (c_ != nullptr && sqlite3_get_autocommit(c_->handle()) == 0) {
    (void)c_->exec("ROLLBACK", "rollback", reason_);
  }
}

Status Transaction::commit() {
  if (c_ == nullptr) return Internal("commit of a finished transaction", "database_error");
  Status st = c_->exec("COMMIT", "commit", reason_);
  if (!st.ok()) {
    if (sqlite3_get_autocommit(c_->handle()) == 0) (void)c_->exec("ROLLBACK", "rollback", reason_);
  }
  c_ = nullptr;
  return st;
}

}  // namespace keymgr::db::sqlite
