#include "api/error_mapping.h"

#include <nlohmann/json.hpp>

namespace keymgr::api {

int http_status(const Status& st) {
  // A few reasons need a more precise status than their class.
  if (st.reason() == "unsupported_media_type") return 415;
  if (st.reason() == "method_not_allowed") return 405;
  if (st.reason() == "payload_too_large" || st.reason() == "too_large") return 413;
  if (st.reason() == "header_too_large") return 431;
  if (st.reason() == "rate_limited") return 429;
  switch (st.code()) {
    case ErrorCode::kOk: return 200;
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kAlreadyExists: return 409;
    case ErrorCode::kFailedPrecondition: return 409;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kResourceExhausted: return 413;
    case ErrorCode::kDeadlineExceeded: return 504;
    case ErrorCode::kDataLoss: return 500;
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

Status method_not_allowed(std::string_view method, std::string_view allowed) {
  return InvalidArgument(std::string(method) + " is not allowed on this route; it takes " + std::string(allowed),
                         "method_not_allowed");
}

std::string error_body(const Status& st) {
  nlohmann::json j = {{"error", std::string(st.reason())}, {"message", st.message()}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace keymgr::api
