// The one place that maps internal errors to HTTP statuses and JSON error bodies
// {"error": <machine-readable reason>, "message": <human text>}.
#pragma once

#include <string>

#include "common/status.h"

namespace keymgr::api {

int http_status(const Status& st);
std::string error_body(const Status& st);

}  // namespace keymgr::api
