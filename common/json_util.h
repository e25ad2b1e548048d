// Parsing JSON that comes from outside: size and depth bounded, never throws.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace keymgr {

struct JsonLimits {
  size_t max_bytes = 64 * 1024;
  int max_depth = 16;
};

// kInvalidArgument "bad_json" (with the parser's position) / kResourceExhausted "too_large".
Result<nlohmann::json> parse_json(std::string_view text, const JsonLimits& limits = {});

}  // namespace keymgr
