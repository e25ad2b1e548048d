// The one place that maps internal errors to HTTP statuses and JSON error bodies
// {"error": <machine-readable reason>, "message": <human text>}.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace keymgr::api {

int http_status(const Status& st);
std::string error_body(const Status& st);

// A known route asked with a method it does not take: 405 "method_not_allowed". `allowed` is the
// value of the Allow header the caller must send with it ("GET, HEAD"; RFC 9110 §15.5.6).
Status method_not_allowed(std::string_view method, std::string_view allowed);

}  // namespace keymgr::api
