// The store conformance suite: the behaviour db/store.h promises, checked the same way against
// every backend. A backend joins by providing a StoreBackend (one fresh, empty database per test)
// and instantiating the suite in its own file:
//
//   KM_INSTANTIATE_STORE_CONFORMANCE(Sqlite, sqlite_backend());
//
// (tests/db/sqlite_conformance_test.cc). The suite's tests live in store_conformance_*test.cc; tests
// of one backend's own mechanics (SQLite's WAL, its locks, its VFS) stay in that backend's files.
// A backend must offer CommitStatsSource (the suite checks that appends are grouped).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <memory>
#include <string>

#include "common/encoding.h"
#include "common/status.h"
#include "db/records.h"
#include "db/store.h"
#include "tests/db/test_records.h"

namespace keymgr::db::testing {

// One empty database of the backend under test; removed when destroyed.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // Opens a Store on this database. Every call opens the same database: a second call while the
  // first Store is open is a second process or instance on it; after the first is destroyed, a
  // restart.
  virtual Result<std::unique_ptr<Store>> open(const StoreOptions& options) = 0;
  // Runs SQL (one or more statements separated by ";", on one connection) on the database behind
  // every open Store's back (tampering); ADD_FAILURE when it fails. The suite only uses SQL that
  // SQLite and PostgreSQL both accept, with blobs written by bytes_literal().
  virtual void exec_sql(const std::string& sql) = 0;
  // A SQL literal for `b` in this backend's dialect (X'..' in SQLite, '\x..'::bytea in PostgreSQL).
  virtual std::string bytes_literal(const Bytes& b) const = 0;
};

struct StoreBackendFactory {
  std::string name;  // test-name suffix: letters and digits only
  // Null when the backend cannot run here (e.g. no server configured): the test then skips with
  // unavailable()'s reason, or fails with it when required() says the backend must run (CI). A
  // make() that reports its own failure (ADD_FAILURE) and returns null fails the test.
  std::function<std::unique_ptr<StoreBackend>()> make;
  std::function<std::string()> unavailable = {};
  std::function<bool()> required = {};
};

inline void PrintTo(const StoreBackendFactory& f, std::ostream* os) { *os << f.name; }

class StoreConformance : public ::testing::TestWithParam<StoreBackendFactory> {
 protected:
  void SetUp() override {
    const StoreBackendFactory& f = GetParam();
    backend_ = f.make();
    if (backend_) return;
    if (HasFailure()) FAIL() << f.name << ": the backend could not be set up";
    const std::string why = f.unavailable ? f.unavailable() : f.name + ": the backend is unavailable";
    if (f.required && f.required()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  void TearDown() override { backend_.reset(); }

  // A Store on the test's database (ADD_FAILURE and null when it cannot be opened).
  std::unique_ptr<Store> open(const StoreOptions& options = {}) {
    auto r = backend_->open(options);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  StoreBackend& backend() { return *backend_; }

 private:
  std::unique_ptr<StoreBackend> backend_;
};

// StoreConformance with ten sign entries, seq 1..10, in the test's database.
class LedgerChainConformance : public StoreConformance {
 protected:
  void SetUp() override {
    StoreConformance::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto s = open();
    ASSERT_TRUE(s);
    for (int i = 1; i <= 10; ++i) {
      auto seq = s->append_ledger(sign_entry("k" + std::to_string(i % 3), "j" + std::to_string(i), i * 10));
      ASSERT_EQ(seq_of(*s, seq), i);
    }
  }

  // Verifies from a freshly opened store (a restart after the tampering).
  ChainReport verify() {
    auto s = open();
    EXPECT_TRUE(s);
    if (!s) return {};
    auto r = s->verify_chain();
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : ChainReport{};
  }
};

}  // namespace keymgr::db::testing

// Runs every conformance test against the backend `factory` (a StoreBackendFactory) makes.
#define KM_INSTANTIATE_STORE_CONFORMANCE(prefix, factory)                                                    \
  INSTANTIATE_TEST_SUITE_P(prefix, StoreConformance, ::testing::Values(factory),                            \
                           [](const auto& info) { return info.param.name; });                              \
  INSTANTIATE_TEST_SUITE_P(prefix, LedgerChainConformance, ::testing::Values(factory),                      \
                           [](const auto& info) { return info.param.name; })
