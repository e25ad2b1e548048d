// The store conformance suite (store_conformance.h) on the PostgreSQL backend: one fresh schema
// per test in the database at KEYMGR_TEST_PG_URL (tests/support/pg_test_db.h). Without that
// variable the tests skip, or fail when KEYMGR_TEST_REQUIRE_PG=1 (scripts/test.sh sets both).
#include "db/pg_store.h"
#include "tests/db/store_conformance.h"
#include "tests/support/pg_test_db.h"

namespace keymgr::db::testing {
namespace {

class PgBackend final : public StoreBackend {
 public:
  bool ok() const { return schema_.ok(); }
  const std::string& error() const { return schema_.error(); }

  Result<std::unique_ptr<Store>> open(const StoreOptions& options) override {
    return open_postgres_store(schema_.url(), options);
  }
  void exec_sql(const std::string& sql) override {
    if (std::string e = schema_.exec(sql); !e.empty()) ADD_FAILURE() << "SQL failed: " << e << "\n  SQL: " << sql;
  }
  std::string bytes_literal(const Bytes& b) const override { return "'\\x" + hex_encode(b) + "'::bytea"; }

 private:
  keymgr::testing::PgTestSchema schema_;
};

StoreBackendFactory postgres_backend() {
  return {"Postgres",
          []() -> std::unique_ptr<StoreBackend> {
            if (!keymgr::testing::pg_base_url()) return nullptr;
            auto b = std::make_unique<PgBackend>();
            if (!b->ok()) {
              ADD_FAILURE() << "PostgreSQL test schema: " << b->error();
              return nullptr;
            }
            return b;
          },
          [] { return keymgr::testing::pg_unavailable_reason(); },
          [] { return keymgr::testing::pg_required(); }};
}

KM_INSTANTIATE_STORE_CONFORMANCE(Postgres, postgres_backend());

}  // namespace
}  // namespace keymgr::db::testing
