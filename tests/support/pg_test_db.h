// PostgreSQL for tests: the server comes from the environment, each test gets its own schema.
//
//   KEYMGR_TEST_PG_URL      a libpq URL of a database the tests may create schemas in
//                           (scripts/pg.sh start DIR prints one; scripts/test.sh exports it)
//   KEYMGR_TEST_REQUIRE_PG  "1": a PostgreSQL test without a server fails instead of skipping
//
// PgTestSchema makes a fresh schema and a URL whose every connection works inside it only
// (search_path set through the libpq `options` parameter), so tests sharing one database (in
// parallel ctest processes, too) never see each other's tables. What a schema does not isolate:
// database-wide state such as advisory locks, LISTEN channels and roles.
//
// Header-only; uses libpq directly (link PkgConfig::LIBPQ).
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

namespace keymgr::testing {

// KEYMGR_TEST_PG_URL, or nullopt when unset or empty.
inline std::optional<std::string> pg_base_url() {
  const char* v = std::getenv("KEYMGR_TEST_PG_URL");
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

// KEYMGR_TEST_REQUIRE_PG == "1": PostgreSQL tests must run (CI), never skip.
inline bool pg_required() {
  const char* v = std::getenv("KEYMGR_TEST_REQUIRE_PG");
  return v != nullptr && std::string_view(v) == "1";
}

// Why the PostgreSQL tests cannot run here (the skip or failure message).
inline std::string pg_unavailable_reason() {
  if (!pg_base_url()) {
    return std::string(pg_required() ? "KEYMGR_TEST_REQUIRE_PG=1 but KEYMGR_TEST_PG_URL is not set"
                                     : "PostgreSQL tests skipped: KEYMGR_TEST_PG_URL is not set") +
           " (start a server with `scripts/pg.sh start DIR` and export the URL it prints)";
  }
  return "the PostgreSQL server at KEYMGR_TEST_PG_URL is not usable (see the failure above)";
}

namespace pg_detail {

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnCloser>;
struct ResultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultClearer>;

inline std::string trimmed(const char* msg) {
  std::string s = msg != nullptr ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Connects to `url` (a URI or key=value string), NOTICEs silenced. Null and `err` set on failure.
inline Conn connect(const std::string& url, std::string& err) {
  const char* keys[] = {"dbname", "connect_timeout", nullptr};
  const char* vals[] = {url.c_str(), "10", nullptr};
  Conn c(PQconnectdbParams(keys, vals, /*expand_dbname=*/1));
  if (!c || PQstatus(c.get()) != CONNECTION_OK) {
    err = "cannot connect to PostgreSQL: " + trimmed(c ? PQerrorMessage(c.get()) : "out of memory");
    return nullptr;
  }
  PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);
  return c;
}

// Runs `sql` (one or more statements); "" on success, else the error message.
inline std::string exec(PGconn* c, const std::string& sql) {
  Result r(PQexec(c, sql.c_str()));
  if (!r) return "PQexec: " + trimmed(PQerrorMessage(c));
  switch (PQresultStatus(r.get())) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
      return "";
    default:
      return trimmed(PQresultErrorMessage(r.get()));
  }
}

// t_<pid>_<counter>_<16 random hex digits>: unique across processes and within one.
inline std::string fresh_schema_name() {
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  const unsigned long long r = (static_cast<unsigned long long>(rd()) << 32) ^ rd();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", r);
  return "t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + hex;
}

}  // namespace pg_detail

// A fresh schema in the database at the base URL, dropped (CASCADE) when destroyed.
// Never throws: when the schema cannot be made, ok() is false and error() says why.
class PgTestSchema {
 public:
  PgTestSchema() : PgTestSchema(pg_base_url().value_or("")) {}
  explicit PgTestSchema(std::string base_url) : base_(std::move(base_url)), name_(pg_detail::fresh_schema_name()) {
    if (base_.empty()) {
      error_ = "KEYMGR_TEST_PG_URL is not set";
      return;
    }
    pg_detail::Conn c = pg_detail::connect(base_, error_);
    if (!c) return;
    if (std::string e = pg_detail::exec(c.get(), "CREATE SCHEMA " + name_); !e.empty()) {
      error_ = "CREATE SCHEMA " + name_ + ": " + e;
      return;
    }
    created_ = true;
  }
  ~PgTestSchema() {
    if (!created_) return;
    std::string err;
    pg_detail::Conn c = pg_detail::connect(base_, err);
    // A connection still using the schema (a leaked Store) would block the DROP forever.
    if (c) err = pg_detail::exec(c.get(), "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
    if (!err.empty()) std::fprintf(stderr, "PgTestSchema: could not drop schema %s: %s\n", name_.c_str(), err.c_str());
  }
  PgTestSchema(const PgTestSchema&) = delete;
  PgTestSchema& operator=(const PgTestSchema&) = delete;

  bool ok() const { return created_; }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }

  // The base URL with search_path set to this schema only (for every connection made with it).
  std::string url() const {
    const bool uri = base_.rfind("postgresql://", 0) == 0 || base_.rfind("postgres://", 0) == 0;
    if (!uri) return base_ + " options='-csearch_path=" + name_ + "'";  // key=value form
    // In a URI query '=' inside a value must be percent-encoded (libpq refuses a second '=').
    return base_ + (base_.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + name_;
  }

  // Runs `sql` (one or more statements, one implicit transaction) on a fresh connection with
  // search_path set to this schema. "" on success, else the error message:
  //   if (auto e = schema.exec(sql); !e.empty()) ADD_FAILURE() << e;
  std::string exec(const std::string& sql) const {
    if (!created_) return "no test schema: " + error_;
    std::string err;
    pg_detail::Conn c = pg_detail::connect(base_, err);
    if (!c) return err;
    if (err = pg_detail::exec(c.get(), "SET search_path TO " + name_); !err.empty()) return err;
    return pg_detail::exec(c.get(), sql);
  }

 private:
  std::string base_;
  std::string name_;
  std::string error_;
  bool created_ = false;
};

}  // namespace keymgr::testing
