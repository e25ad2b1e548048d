#include "db/open_store.h"

#include <string_view>

namespace keymgr::db {

bool is_postgresql_url(const std::string& location) {
  const std::string_view l(location);
  return l.starts_with("postgresql://") || l.starts_with("postgres://");
}

Result<std::unique_ptr<Store>> open_store(const StoreConfig& config) {
  if (config.location.empty()) return InvalidArgument("store location is empty");
  if (is_postgresql_url(config.location)) {
    // The PostgreSQL backend (issue 13) will be selected here, with its own options in StoreConfig.
    return InvalidArgument("database URL '" + config.location.substr(0, config.location.find("://") + 3) +
                               "...': the PostgreSQL backend is not built into this keymgr",
                           "store_backend_not_built");
  }
  return open_sqlite_store(config.location, config.options, config.sqlite);
}

}  // namespace keymgr::db
