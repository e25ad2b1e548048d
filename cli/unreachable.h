// Why a remote CLI command could not talk to the server, in words an operator can act on: the
// URL, the cause (connection refused, host unknown, timed out, TLS...) and what to try next.
#pragma once

#include <httplib.h>

#include <string>

namespace keymgr::cli {

// `err` is what httplib reported for a request to `url`. For a failed connection the cause is
// found by connecting once more with a plain socket (httplib does not keep errno). The text has
// no "keymgr: " prefix and no newline.
std::string unreachable_message(const std::string& url, httplib::Error err);

}  // namespace keymgr::cli
