// Every rule a new keyset must satisfy before anything is written: its name, its issuer URL, the
// issuer path keymgr's own routes need, and the algorithm it gets when none is asked for.
//
// One place for all of them, so that every path that creates a keyset (POST /v1/keysets,
// `keymgr keyset create`, the bootstrap keyset at start-up) applies the same rules:
// KeyService::create_keyset() calls check_new_keyset() and nothing else re-implements it.
// Uniqueness (name, issuer, issuer path) needs the registry and stays in KeyService.
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include <string_view>

#include "common/status.h"
#include "common/types.h"

namespace keymgr {

// The algorithm of a keyset created without one (API body without "alg", CLI without --alg,
// bootstrap.alg unset).
inline constexpr Algorithm kDefaultAlgorithm = Algorithm::kES256;

inline constexpr size_t kMaxKeysetNameLength = 64;
inline constexpr size_t kMaxIssuerLength = 512;

// a-z, 0-9, '-' and '_': what a keyset name is made of (also what {name} in a route matches).
bool is_keyset_name_char(char c);

// 1-64 characters of is_keyset_name_char(). InvalidArgument "bad_keyset_name" otherwise.
Status check_keyset_name(std::string_view name);

// Whether an issuer path ("/tenants/a", see issuer_path()) is taken by keymgr's own routes:
// anything under /v1, /healthz, /readyz, /metrics, and /ui (the operator console). A keyset's
// JWKS and discovery document are served under its issuer path on the same listener, so such an
// issuer would shadow, or be shadowed by, those routes.
bool is_reserved_issuer_path(std::string_view path);

// An http(s) URL of at most 512 characters, without spaces, query or fragment, whose path is not
// reserved (is_reserved_issuer_path). InvalidArgument "bad_issuer" otherwise.
Status check_issuer(std::string_view issuer);

// check_keyset_name() then check_issuer(): the whole rule for a new keyset's name and issuer.
Status check_new_keyset(std::string_view name, std::string_view issuer);

}  // namespace keymgr
