// spdlog set-up: human-readable lines by default, JSON lines for log shippers.
// Never pass a secret (PIN, API token, key material) to a logger.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace keymgr {

struct LogOptions {
  std::string level = "info";  // trace|debug|info|warn|error|critical|off
  bool json = false;
};

Status init_logging(const LogOptions& opts);

// Escapes a string for embedding into a JSON log line built by a format string.
std::string json_escape(std::string_view s);

}  // namespace keymgr
