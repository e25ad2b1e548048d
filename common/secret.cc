#include "common/secret.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <fstream>

namespace keymgr {

void Secret::wipe() {
  if (!value_.empty()) OPENSSL_cleanse(value_.data(), value_.size());
  value_.clear();
}

Result<Secret> load_secret(std::string_view file, std::string_view env_var, std::string_view what) {
  if (!file.empty()) {
    std::ifstream in{std::string(file)};
    if (!in) {
      return InvalidArgument(std::string(what) + ": cannot read secret file '" + std::string(file) + "'",
                             "secret_unreadable");
    }
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) line.pop_back();
    if (line.empty()) {
      return InvalidArgument(std::string(what) + ": secret file '" + std::string(file) + "' is empty",
                             "secret_missing");
    }
    Secret s(std::move(line));
    return s;
  }
  if (!env_var.empty()) {
    const char* v = std::getenv(std::string(env_var).c_str());
    if (v != nullptr && *v != '\0') return Secret(std::string(v));
  }
  return InvalidArgument(std::string(what) + ": no secret given (set a file or $" + std::string(env_var) + ")",
                         "secret_missing");
}

}  // namespace keymgr
