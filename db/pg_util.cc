#include "db/pg_util.h"

#include <endian.h>

#include <cstring>
#include <utility>

namespace keymgr::db::pg {
namespace {

constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kTextOid = 25;

// libpq's messages end in a newline; keep them on one line in logs.
std::string trim(const char* s) {
  std::string out = s == nullptr ? "" : s;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

Status result_status(PGconn* conn, PGresult* r, std::string_view op, std::string_view reason) {
  if (r == nullptr) {
    return Unavailable(std::string(op) + ": " + trim(PQerrorMessage(conn)), std::string(reason));
  }
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  std::string message = trim(PQresultErrorMessage(r));
  if (message.empty()) message = trim(PQerrorMessage(conn));
  return to_status(state == nullptr ? "" : state, message, op, reason);
}

bool ok_result(PGresult* r) {
  if (r == nullptr) return false;
  auto s = PQresultStatus(r);
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

}  // namespace

Status to_status(std::string_view sqlstate, std::string_view server_message, std::string_view op,
                 std::string_view unavailable_reason) {
  std::string msg(op);
  msg += ": ";
  msg += server_message.empty() ? "database error" : server_message;
  if (!sqlstate.empty()) {
    msg += " (SQLSTATE ";
    msg += sqlstate;
    msg += ")";
  }
  auto unavailable = [&] { return Unavailable(std::move(msg), std::string(unavailable_reason)); };
  if (sqlstate.size() != 5) return unavailable();  // no SQLSTATE: the connection itself failed
  const std::string_view cls = sqlstate.substr(0, 2);
  if (cls == "08" || cls == "53" || sqlstate.starts_with("57P") || sqlstate == "57014" || sqlstate == "25006" ||
      sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") {
    return unavailable();
  }
  if (sqlstate == "23505") return AlreadyExists(std::move(msg));
  if (sqlstate == "23503") return FailedPrecondition(std::move(msg), "foreign_key_violation");
  if (cls == "23") return InvalidArgument(std::move(msg), "constraint_violation");
  if (sqlstate == "XX001" || sqlstate == "XX002") return DataLoss(std::move(msg), "database_corrupt");
  return Internal(std::move(msg), "database_error");
}

// ---- Params ----

Params& Params::add(int64_t v) {
  uint64_t be = htobe64(static_cast<uint64_t>(v));
  types_.push_back(kInt8Oid);
  values_.emplace_back(reinterpret_cast<const char*>(&be), sizeof be);
  nulls_.push_back(false);
  return *this;
}

Params& Params::add(std::string_view text) {
  types_.push_back(kTextOid);
  values_.emplace_back(text);
  nulls_.push_back(false);
  return *this;
}

Params& Params::add(const Bytes& bytea) {
  types_.push_back(kByteaOid);
  values_.emplace_back(reinterpret_cast<const char*>(bytea.data()), bytea.size());
  nulls_.push_back(false);
  return *this;
}

Params& Params::add(const std::optional<int64_t>& v) { return v ? add(*v) : add_null_int64(); }

Params& Params::add_null_int64() {
  types_.push_back(kInt8Oid);
  values_.emplace_back();
  nulls_.push_back(true);
  return *this;
}

// ---- Rows ----

Rows& Rows::operator=(Rows&& o) noexcept {
  if (this != &o) {
    if (r_ != nullptr) PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

int64_t Rows::affected() const {
  const char* n = PQcmdTuples(r_);
  return (n == nullptr || *n == '\0') ? 0 : std::stoll(n);
}

int64_t Rows::int64(int row, int col) const {
  if (is_null(row, col)) return 0;
  const char* v = PQgetvalue(r_, row, col);
  switch (PQftype(r_, col)) {
    case kInt8Oid: {
      uint64_t be;
      std::memcpy(&be, v, sizeof be);
      return static_cast<int64_t>(be64toh(be));
    }
    case kInt4Oid: {
      uint32_t be;
      std::memcpy(&be, v, sizeof be);
      return static_cast<int32_t>(be32toh(be));
    }
    case kInt2Oid: {
      uint16_t be;
      std::memcpy(&be, v, sizeof be);
      return static_cast<int16_t>(be16toh(be));
    }
    case kBoolOid:
      return v[0] != 0 ? 1 : 0;
    default:
      return 0;  // a schema/query mismatch; the conformance suite would catch it
  }
}

std::string Rows::text(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
}

Bytes Rows::blob(int row, int col) const {
  const auto* p = reinterpret_cast<const uint8_t*>(PQgetvalue(r_, row, col));
  return Bytes(p, p + PQgetlength(r_, row, col));
}

// ---- Connection ----

Result<std::unique_ptr<Connection>> Connection::open(const std::string& url, const Options& opts) {
  const std::string timeout = std::to_string(opts.connect_timeout_s);
  // Keywords before "dbname" are defaults the URL may override. TCP keepalives and a user timeout
  // bound how long a dead peer (a failed-over primary, a cut network) can hang a call; they are
  // ignored on unix sockets, where the kernel reports a dead server at once.
  const char* keys[] = {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "tcp_user_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "1", "10", "3", "3", "15000", "keymgr", url.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (c == nullptr) return Unavailable("connect to PostgreSQL: out of memory", std::string(kDatabaseUnavailable));
  std::unique_ptr<Connection> conn(new Connection(c, url, opts));
  if (PQstatus(c) != CONNECTION_OK) {
    return Unavailable("connect to PostgreSQL: " + trim(PQerrorMessage(c)), std::string(kDatabaseUnavailable));
  }
  RETURN_IF_ERROR(conn->configure(kDatabaseUnavailable));
  return conn;
}

Connection::~Connection() { PQfinish(conn_); }

Status Connection::configure(std::string_view reason) {
  prepared_.clear();
  // synchronous_commit is stated, not assumed: a server default of "off" or "local" would let a
  // token leave before its record is safely on disk (and on the synchronous standbys).
  return exec("SET synchronous_commit = on; SET idle_in_transaction_session_timeout = " +
                  std::to_string(opts_.idle_in_transaction_timeout_ms) +
                  "; SET statement_timeout = " + std::to_string(opts_.statement_timeout_ms) +
                  "; SET client_min_messages = warning; SET TIME ZONE 'UTC'",
              "configure PostgreSQL session", reason);
}

Status Connection::ensure_connected(std::string_view reason) {
  if (PQstatus(conn_) == CONNECTION_OK) return Status::Ok();
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Unavailable("reconnect to PostgreSQL: " + trim(PQerrorMessage(conn_)), std::string(reason));
  }
  return configure(reason);
}

bool Connection::in_transaction() const {
  auto s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

Status Connection::exec(const std::string& sql, std::string_view op, std::string_view reason) {
  PGresult* r = PQexec(conn_, sql.c_str());
  Status st = ok_result(r) ? Status::Ok() : result_status(conn_, r, op, reason);
  if (r != nullptr) PQclear(r);
  return st;
}

Result<Rows> Connection::query(const std::string& sql, const Params& params, std::string_view op,
                               std::string_view reason) {
  const size_t n = params.size();
  std::vector<const char*> values(n);
  std::vector<int> lengths(n);
  std::vector<int> formats(n, 1);
  for (size_t i = 0; i < n; ++i) {
    values[i] = params.nulls_[i] ? nullptr : params.values_[i].data();
    lengths[i] = static_cast<int>(params.values_[i].size());
  }
  const bool autocommit = !in_transaction();
  for (int attempt = 0;; ++attempt) {
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      if (prepared_.size() >= kMaxCachedStatements) {
        RETURN_IF_ERROR(exec("DEALLOCATE ALL", "drop prepared statements", reason));
        prepared_.clear();
      }
      std::string name = "km" + std::to_string(next_stmt_++);
      PGresult* r =
          PQprepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(n), params.types_.data());
      const bool ok = ok_result(r);
      Status st = ok ? Status::Ok() : result_status(conn_, r, op, reason);
      if (r != nullptr) PQclear(r);
      if (!ok) {
        // A stale connection (one the server closed: a restart, a failover) looks healthy until it
        // is used. Outside a transaction the store only runs reads, so one retry on a fresh
        // connection is safe.
        if (attempt == 0 && autocommit && broken()) {
          RETURN_IF_ERROR(ensure_connected(reason));
          continue;
        }
        return st;
      }
      it = prepared_.emplace(sql, std::move(name)).first;
    }
    PGresult* r = PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(n), values.data(), lengths.data(),
                                 formats.data(), /*resultFormat=*/1);
    if (ok_result(r)) return Rows(r);
    Status st = result_status(conn_, r, op, reason);
    if (r != nullptr) PQclear(r);
    if (attempt == 0 && autocommit && broken()) {
      RETURN_IF_ERROR(ensure_connected(reason));
      continue;
    }
    return st;
  }
}

// ---- Transaction ----

Result<Transaction> Transaction::begin(Connection& c, std::string_view reason, std::string_view mode) {
  RETURN_IF_ERROR(c.ensure_connected(reason));
  if (c.in_transaction()) RETURN_IF_ERROR(c.exec("ROLLBACK", "roll back a stale transaction", reason));
  std::string sql = "BEGIN";
  if (!mode.empty()) {
    sql += " ";
    sql += mode;
  }
  Status st = c.exec(sql, "begin transaction", reason);
  if (!st.ok() && c.broken()) {
    // A connection the server closed (a restart, a failover) looks healthy until it is used: BEGIN
    // is where that shows. Nothing has run yet, so reconnecting and beginning again is safe.
    RETURN_IF_ERROR(c.ensure_connected(reason));
    st = c.exec(sql, "begin transaction", reason);
  }
  RETURN_IF_ERROR(st);
  return Transaction(&c, reason);
}

Transaction::~Transaction() {
  if (c_ != nullptr && !c_->broken()) (void)c_->exec("ROLLBACK", "roll back", reason_);
}

Status Transaction::commit() {
  Connection* c = c_;
  c_ = nullptr;
  PGresult* r = PQexec(c->handle(), "COMMIT");
  if (!ok_result(r)) {
    Status st = result_status(c->handle(), r, "commit", reason_);
    if (r != nullptr) PQclear(r);
    return st;
  }
  // COMMIT of a transaction that had failed answers "ROLLBACK".
  const bool committed = std::strcmp(PQcmdStatus(r), "COMMIT") == 0;
  PQclear(r);
  if (!committed) return Unavailable("commit: the transaction was rolled back", std::string(reason_));
  return Status::Ok();
}

}  // namespace keymgr::db::pg
