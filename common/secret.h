// Secrets (PINs, API tokens) held in memory: wiped on destruction, never printable.
// Loaded from a file or an environment variable, never from argv.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace keymgr {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret& o) : value_(o.value_) {}
  Secret& operator=(const Secret& o) {
    if (this != &o) { wipe(); value_ = o.value_; }
    return *this;
  }
  Secret(Secret&& o) noexcept : value_(std::move(o.value_)) { o.wipe(); }
  Secret& operator=(Secret&& o) noexcept {
    if (this != &o) { wipe(); value_ = std::move(o.value_); o.wipe(); }
    return *this;
  }
  ~Secret() { wipe(); }

  // The only way to read it; grep for reveal() to audit every use.
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  void wipe();

 private:
  std::string value_;
};

// Reads a secret from `file` (first line, trailing newline stripped) if non-empty, else from the
// environment variable `env_var`. Errors never include the secret.
Result<Secret> load_secret(std::string_view file, std::string_view env_var, std::string_view what);

}  // namespace keymgr
