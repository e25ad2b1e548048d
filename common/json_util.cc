#include "common/json_util.h"

namespace keymgr {

Result<nlohmann::json> parse_json(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return ResourceExhausted("JSON document larger than " + std::to_string(limits.max_bytes) + " bytes", "too_large");
  }
  bool too_deep = false;
  // The callback sees every nesting step; refusing early keeps deep documents from costing stack.
  nlohmann::json::parser_callback_t cb = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > limits.max_depth) too_deep = true;
    return !too_deep;
  };
  try {
    nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true);
    if (too_deep) {
      return InvalidArgument("JSON nested deeper than " + std::to_string(limits.max_depth) + " levels", "json_too_deep");
    }
    return j;
  } catch (const nlohmann::json::exception& e) {
    if (too_deep) {
      return InvalidArgument("JSON nested deeper than " + std::to_string(limits.max_depth) + " levels", "json_too_deep");
    }
    return InvalidArgument(std::string("malformed JSON: ") + e.what(), "bad_json");
  }
}

}  // namespace keymgr
