// RAII over libpq: connection (with a prepared-statement cache), parameter lists, results, a
// transaction guard, and the one mapping from SQLSTATEs to Status. Private to db/.
//
// Every statement goes through PQexecPrepared with binary parameters and binary results, so no
// value is ever spliced into SQL text and bytea needs no escaping.
//
// Thread-safety: a Connection and everything borrowed from it belong to one thread at a time (the
// store hands connections out under its own mutexes). Nothing here locks.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/encoding.h"
#include "common/status.h"
#include "db/store.h"

namespace keymgr::db::pg {

using ::keymgr::db::kDatabaseUnavailable;
using ::keymgr::db::kLedgerUnavailable;

// Maps a failed result's SQLSTATE to a Status (message names `op` and carries the server's text):
//   class 08 (connection), 53 (resources), 57P0x (shutdown), 57014 (statement timeout / cancel),
//   25006 (read-only transaction), 40001/40P01 (serialization failure / deadlock), 55P03 (lock not
//   available), no SQLSTATE (the connection broke)      -> kUnavailable with `unavailable_reason`
//   23505 unique_violation                              -> kAlreadyExists
//   23503 foreign_key_violation                         -> kFailedPrecondition "foreign_key_violation"
//   other class 23                                      -> kInvalidArgument "constraint_violation"
//   XX001/XX002 (data corrupted)                        -> kDataLoss "database_corrupt"
//   anything else                                       -> kInternal "database_error"
Status to_status(std::string_view sqlstate, std::string_view server_message, std::string_view op,
                 std::string_view unavailable_reason);

// Parameters of one statement, in $1.. order. Values are copied (binary wire format).
class Params {
 public:
  Params& add(int64_t v);
  Params& add(std::string_view text);
  Params& add(const char* text) { return add(std::string_view(text)); }
  Params& add(const std::string& text) { return add(std::string_view(text)); }
  Params& add(const Bytes& bytea);
  Params& add(const std::optional<int64_t>& v);
  Params& add_null_int64();
  size_t size() const { return types_.size(); }

 private:
  friend class Connection;
  std::vector<Oid> types_;
  std::vector<std::string> values_;  // binary representations
  std::vector<bool> nulls_;
};

// A result set (binary format). Owns the PGresult.
class Rows {
 public:
  explicit Rows(PGresult* r) : r_(r) {}
  ~Rows() {
    if (r_ != nullptr) PQclear(r_);
  }
  Rows(Rows&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Rows& operator=(Rows&& o) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;

  int size() const { return PQntuples(r_); }
  bool empty() const { return size() == 0; }
  // Rows affected by INSERT/UPDATE/DELETE.
  int64_t affected() const;
  bool is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  // int2/int4/int8/bool columns; 0 for NULL.
  int64_t int64(int row, int col) const;
  std::optional<int64_t> opt_int64(int row, int col) const {
    return is_null(row, col) ? std::nullopt : std::optional<int64_t>(int64(row, col));
  }
  std::string text(int row, int col) const;
  Bytes blob(int row, int col) const;

 private:
  PGresult* r_;
};

class Connection {
 public:
  struct Options {
    int connect_timeout_s = 5;
    int statement_timeout_ms = 10000;
    int idle_in_transaction_timeout_ms = 3000;
  };
  // Connects; kUnavailable "database_unavailable" when the server cannot be reached (the message
  // carries libpq's text, never the URL).
  static Result<std::unique_ptr<Connection>> open(const std::string& url, const Options& opts);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Reconnects when the connection is broken (the server restarted, the socket was cut). Ok when
  // usable; kUnavailable otherwise. Called at the start of every transaction.
  Status ensure_connected(std::string_view unavailable_reason);
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }
  // Inside a transaction block (or a failed one).
  bool in_transaction() const;

  // Runs one or more statements without parameters (DDL, BEGIN/COMMIT, SET).
  Status exec(const std::string& sql, std::string_view op, std::string_view unavailable_reason = kDatabaseUnavailable);
  // Runs one statement (prepared once per connection and cached). Outside a transaction a statement
  // that fails because the connection had broken is retried once on a new connection: such
  // statements must be reads (every write runs in a Transaction).
  Result<Rows> query(const std::string& sql, const Params& params, std::string_view op,
                     std::string_view unavailable_reason = kDatabaseUnavailable);
  Result<Rows> query(const std::string& sql, std::string_view op,
                     std::string_view unavailable_reason = kDatabaseUnavailable) {
    return query(sql, Params(), op, unavailable_reason);
  }

  PGconn* handle() const { return conn_; }

 private:
  Connection(PGconn* c, std::string url, Options opts) : conn_(c), url_(std::move(url)), opts_(opts) {}
  Status configure(std::string_view unavailable_reason);

  static constexpr size_t kMaxCachedStatements = 256;

  PGconn* conn_;
  const std::string url_;
  const Options opts_;
  std::unordered_map<std::string, std::string> prepared_;  // sql -> statement name
  uint64_t next_stmt_ = 0;
};

// BEGIN ... COMMIT; rolls back on destruction unless commit() succeeded.
class Transaction {
 public:
  // `mode`: e.g. "" (read committed), "ISOLATION LEVEL REPEATABLE READ READ ONLY".
  static Result<Transaction> begin(Connection& c, std::string_view unavailable_reason, std::string_view mode = "");
  ~Transaction();
  Transaction(Transaction&& o) noexcept : c_(o.c_), reason_(o.reason_) { o.c_ = nullptr; }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction& operator=(Transaction&&) = delete;

  // On failure the transaction is gone (nothing of it remains); a COMMIT whose outcome is unknown
  // (the connection broke during it) is kUnavailable.
  Status commit();

 private:
  Transaction(Connection* c, std::string_view reason) : c_(c), reason_(reason) {}
  Connection* c_;
  std::string_view reason_;
};

}  // namespace keymgr::db::pg
