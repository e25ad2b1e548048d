#include "db/open_store.h"

#include <string_view>

namespace keymgr::db {

bool is_postgresql_url(const std::string& location) {
  const std::string_view l(location);
  return l.starts_with("postgresql://") || l.starts_with("postgres://");
}

Result<std::unique_ptr<Store>> open_store(const StoreConfig& config) {
  if (config.location.empty()) return InvalidArgument("store location is empty");
  if (is_postgresql_url(config.location)) return open_postgres_store(config.location, config.options, config.postgres);
  return open_sqlite_store(config.location, config.options, config.sqlite);
}

}  // namespace keymgr::db
