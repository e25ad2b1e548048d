// Fuzz entry points: one function per parser that sees outside bytes. Each is called by a libFuzzer
// target (fuzz_main.cc, clang -fsanitize=fuzzer) and by fuzz_regression_test (gtest, every build),
// which replays the committed corpus and every saved crash through the same function.
//
// Each entry checks properties beyond "does not crash" (round trips, fail-closed verification) and
// abort()s when one breaks, so libFuzzer saves the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

// A broken property: print it and abort, so libFuzzer keeps the input and the gtest replay fails.
#define KM_FUZZ_CHECK(cond, what)                                                             \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "fuzz property violated: %s (%s:%d)\n", what, __FILE__, __LINE__); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

namespace keymgr::fuzz {

inline std::string_view as_view(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

using Entry = int (*)(const uint8_t* data, size_t size);

struct Target {
  const char* name;  // also the corpus directory tests/fuzz/corpus/<name>
  Entry entry;
};

// parse_json with the request-body limits (64 KiB, depth 16); accepted documents round-trip.
int fuzz_json(const uint8_t* data, size_t size);
// parse_json (claims limits) + validate_claims; accepted claims are signed with a FakeHsm keyset
// and the token must then verify (sign/verify round trip through TokenService).
int fuzz_claims(const uint8_t* data, size_t size);
// TokenService::verify on a FakeHsm keyset. Input forms (see fuzz_entries.cc): "T:<compact token>",
// "R:<n>" (a genuinely issued token, then mutated by the rest), or "<header>\n<payload>[\n<sig>]"
// with placeholders @KA (kid of keyset A), @KB (kid of keyset B), @NOW; without <sig> the token is
// signed by keyset A's HSM key (valid signature, not in the ledger). Must never be valid unless
// keymgr issued the exact token.
int fuzz_verify(const uint8_t* data, size_t size);
// base64url_decode: accepted strings are canonical (re-encode equal); encode/decode round trip.
int fuzz_base64url(const uint8_t* data, size_t size);
// public_key_from_jwk; first byte picks the algorithm; imported keys export back to the same JWK.
int fuzz_jwk(const uint8_t* data, size_t size);
// policy_from_json + validate_policy + parse_duration; accepted policies round-trip via JSON.
int fuzz_policy(const uint8_t* data, size_t size);
// cli::parse_config on TOML text.
int fuzz_config(const uint8_t* data, size_t size);
// api::Authenticator (uncached) on an Authorization header value against a store holding a few tokens.
int fuzz_auth(const uint8_t* data, size_t size);
// The public listener's request path: parse_request_head over pipelined bytes, decode_target_path,
// respond() against a FakeHsm KeyService; responses are well-formed HTTP/1.1 whose Content-Length
// matches, a request with a body always closes the connection, and a served JWKS is the keyset's.
int fuzz_http(const uint8_t* data, size_t size);
// The main listener's request parsing (api::parse_http_request: Beast's parser with the listener's
// limits, then the conversion to the handlers' Request) over pipelined bytes: every accepted
// request has a method, a decoded path starting with '/' and holding no NUL, a body within the
// limit and lies within the input; every refusal is one of the listener's reasons.
int fuzz_mainhttp(const uint8_t* data, size_t size);
// The monitoring settings and query parsers: "W<url>" → parse_webhook_url (an accepted URL is
// http(s), its parts re-join to the input, no user info, query, fragment or control bytes, a
// port 1..65535); "C<cursor>" → db::parse_alert_cursor (an accepted cursor renders back byte for
// byte); "N<name>" → valid_sink_name.
int fuzz_alerts(const uint8_t* data, size_t size);

// Transparency-log formats (fuzz_tlog_entries.cc, km_tlog only):
// parse_note (+ parse_signature_lines, parse_verifier_key on the same bytes): accepted inputs
// format back byte for byte; verify_note against fixed public keys accepts only texts their holders
// really signed.
int fuzz_note(const uint8_t* data, size_t size);
// parse_checkpoint: accepted texts format back byte for byte.
int fuzz_checkpoint(const uint8_t* data, size_t size);
// parse_inclusion_proof and parse_consistency_proof on the same bytes: accepted files format back
// byte for byte; verification against a fixed policy accepts only genuinely signed checkpoints.
int fuzz_tlogproof(const uint8_t* data, size_t size);
// db::ledger_decode_canonical (the leaf data of the transparency log, from inclusion proof files):
// accepted input re-encodes to exactly itself, malformed input has one reason; an entry made from
// the input survives encode/decode.
int fuzz_ledgerenc(const uint8_t* data, size_t size);
// Database settings: the URL as database.url (config) and redact_database_url. libpq's own parser
// (PQconninfoParse, which connects nowhere) is the oracle: a password it finds never survives
// redaction, and a config accepts the URL exactly when it is a PostgreSQL URL.
int fuzz_dburl(const uint8_t* data, size_t size);

const std::vector<Target>& targets();

}  // namespace keymgr::fuzz
