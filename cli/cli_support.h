// What the CLI's command files share: exit codes, error reporting, the REST client, local
// database access and files written with care. main.cc wires the commands; audit_commands.cc
// holds the ledger's. Not thread-safe (one command runs per process).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/config.h"
#include "common/status.h"
#include "db/store.h"

namespace keymgr::cli {

// Exit codes; kExitHelp is the --help footer, README's CLI section says the same.
inline constexpr int kExitError = 1;         // anything else (HTTP 5xx other than 503)
inline constexpr int kExitBadRequest = 2;    // bad arguments or input, HTTP 4xx
inline constexpr int kExitUnavailable = 3;   // server unreachable, HTTP 503, HSM or database unavailable
inline constexpr int kExitDataLoss = 4;      // the ledger or the log does not verify (audit verify, verify-proof, monitor)
inline constexpr int kExitTokenInvalid = 5;  // verify: the server answered, and the token is not valid
inline constexpr const char* kExitHelp =
    "Exit codes: 0 success (verify: the token is valid); 1 other error (HTTP 5xx); 2 bad arguments or "
    "request (HTTP 4xx); 3 server unreachable or unavailable (HTTP 503, HSM, database); 4 the ledger or "
    "its transparency log does not verify (audit verify, verify-proof, monitor); 5 token not valid (verify).";

// Prints "keymgr: <status>" to stderr; returns the exit code for its class.
int fail(const Status& st);

// A REST API endpoint and how to authenticate to it.
struct Remote {
  std::string url = "http://127.0.0.1:8080";
  std::string token_file;
  bool table = false;
};
// --url, --token-file, --table on `c`, bound to `r`.
void add_remote_options(CLI::App* c, Remote& r);
// The API token from --token-file or $KEYMGR_API_TOKEN (never argv).
Result<std::string> api_token(const Remote& r);

// One request. `json_body` (may be null) is sent as application/json. `with_token`: the API token
// is required and sent as a bearer token; otherwise no Authorization header is sent (public
// routes). Returns 0 with the body of a 2xx answer in *out, or prints the error (the server's
// reason and message, or why it is unreachable) and returns its exit code.
int http(const Remote& r, const std::string& method, const std::string& path, const std::string* json_body,
         bool with_token, std::string* out);
// http() with the API token and a JSON body; the answer is printed (pretty JSON) or, if `out` is
// given, parsed into it.
int call(const Remote& r, const std::string& method, const std::string& path, const nlohmann::json* body,
         nlohmann::json* out = nullptr);

std::string url_escape(const std::string& s);

// The configuration and its database, for local commands.
struct Local {
  Config cfg;
  std::unique_ptr<db::Store> store;
};
Result<Local> open_local(const std::string& config_path);

// Reads at most `max` bytes of `path` ("-": stdin). InvalidArgument "input_too_large" if longer,
// "cannot_read" if it cannot be read.
Result<std::string> read_input(const std::string& path, size_t max);
// Replaces `path` with `data` atomically: a new file (mode 0600) in the same directory, written,
// fsynced and renamed over `path`, then the directory fsynced. On failure `path` is unchanged.
Status write_file_atomic(const std::string& path, std::string_view data);

}  // namespace keymgr::cli
