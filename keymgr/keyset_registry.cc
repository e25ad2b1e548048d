#include "keymgr/keyset_registry.h"

#include <mutex>

namespace keymgr {

void KeysetRegistry::publish(KeysetPtr ks) {
  std::unique_lock lk(mu_);
  auto old = by_name_.find(ks->name);
  if (old != by_name_.end()) {
    for (const auto& k : old->second->keys) name_by_kid_.erase(k.kid);
  }
  for (const auto& k : ks->keys) {
    if (!k.kid.empty()) name_by_kid_[k.kid] = ks->name;
  }
  name_by_issuer_[ks->issuer] = ks->name;
  name_by_issuer_path_[issuer_path(ks->issuer)] = ks->name;
  name_by_id_[ks->id] = ks->name;
  by_name_[ks->name] = std::move(ks);
}

std::vector<KeysetPtr> KeysetRegistry::all() const {
  std::shared_lock lk(mu_);
  std::vector<KeysetPtr> out;
  out.reserve(by_name_.size());
  for (const auto& [n, ks] : by_name_) out.push_back(ks);
  return out;
}

KeysetPtr KeysetRegistry::find(std::string_view name) const {
  std::shared_lock lk(mu_);
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

KeysetPtr KeysetRegistry::via(const Index& index, std::string_view key) const {
  std::shared_lock lk(mu_);
  auto it = index.find(key);
  if (it == index.end()) return nullptr;
  auto k = by_name_.find(it->second);
  return k == by_name_.end() ? nullptr : k->second;
}

KeysetPtr KeysetRegistry::by_issuer(std::string_view issuer) const { return via(name_by_issuer_, issuer); }
KeysetPtr KeysetRegistry::by_issuer_path(std::string_view path) const { return via(name_by_issuer_path_, path); }
KeysetPtr KeysetRegistry::by_kid(std::string_view kid) const { return via(name_by_kid_, kid); }

KeysetPtr KeysetRegistry::by_id(int64_t id) const {
  std::shared_lock lk(mu_);
  auto n = name_by_id_.find(id);
  if (n == name_by_id_.end()) return nullptr;
  auto it = by_name_.find(n->second);
  return it == by_name_.end() ? nullptr : it->second;
}

}  // namespace keymgr
