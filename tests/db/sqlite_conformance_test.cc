// The store conformance suite (store_conformance.h) on the SQLite backend: one file per test in a
// fresh temp directory.
#include "db/sqlite_store.h"
#include "tests/db/sqlite_test_util.h"
#include "tests/db/store_conformance.h"

namespace keymgr::db::testing {
namespace {

class SqliteBackend final : public StoreBackend {
 public:
  Result<std::unique_ptr<Store>> open(const StoreOptions& options) override {
    return open_sqlite_store(path_, options);
  }
  void exec_sql(const std::string& sql) override {
    RawDb raw(path_);
    raw.exec(sql);
  }
  std::string bytes_literal(const Bytes& b) const override { return "X'" + hex_encode(b) + "'"; }

 private:
  TempDir dir_;
  const std::string path_ = dir_.file("km.db");
};

StoreBackendFactory sqlite_backend() {
  return {"Sqlite", [] { return std::unique_ptr<StoreBackend>(std::make_unique<SqliteBackend>()); }};
}

KM_INSTANTIATE_STORE_CONFORMANCE(Sqlite, sqlite_backend());

}  // namespace
}  // namespace keymgr::db::testing
