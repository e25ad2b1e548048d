// The in-memory registry of keyset snapshots and their lookup indexes (by name, issuer, issuer
// path, kid). Readers (the sign path, JWKS) get a snapshot without waiting for any operation;
// a change publishes a whole new snapshot.
//
// Thread-safety: every method may be called from any thread (one shared mutex; publish is short).
#pragma once

#include <map>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "keymgr/keyset.h"

namespace keymgr {

class KeysetRegistry {
 public:
  // Replaces the keyset's snapshot and its index entries.
  void publish(KeysetPtr ks);

  std::vector<KeysetPtr> all() const;  // by name
  KeysetPtr find(std::string_view name) const;
  KeysetPtr by_issuer(std::string_view issuer) const;
  // The keyset whose issuer URL has this path ("/tenants/a"; "" for an issuer without a path).
  KeysetPtr by_issuer_path(std::string_view path) const;
  // The keyset that holds `kid` (any state).
  KeysetPtr by_kid(std::string_view kid) const;
  KeysetPtr by_id(int64_t id) const;  // the store's keyset id

 private:
  using Index = std::map<std::string, std::string, std::less<>>;  // key → keyset name
  KeysetPtr via(const Index& index, std::string_view key) const;

  mutable std::shared_mutex mu_;
  std::map<std::string, KeysetPtr, std::less<>> by_name_;  // guarded by mu_
  Index name_by_issuer_;                                   // guarded by mu_
  Index name_by_kid_;                                      // guarded by mu_
  Index name_by_issuer_path_;                              // guarded by mu_
  std::map<int64_t, std::string> name_by_id_;              // guarded by mu_
};

}  // namespace keymgr
