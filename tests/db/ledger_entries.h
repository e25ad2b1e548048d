// Ledger entries for tests/db: a signing record and a lifecycle event with every field set.
#pragma once

#include <cstdint>
#include <string>

#include "db/records.h"

namespace keymgr::db::testing {

inline LedgerEntry sign_entry(const std::string& kid, const std::string& jti, int64_t ts_ms, int64_t exp = 2000000000,
                              const std::string& outcome = "ok") {
  LedgerEntry e;
  e.ts_ms = ts_ms;
  e.kind = "sign";
  e.event = "sign";
  e.keyset = "web";
  e.kid = kid;
  e.alg = "ES256";
  e.actor = "svc-web";
  e.actor_addr = "10.0.0.7";
  e.jti = jti;
  e.sub = "user-" + jti;
  e.aud = "api";
  e.iat = ts_ms / 1000;
  e.exp = exp;
  e.token_sha256 = outcome == "ok" ? std::string(64, 'a') : "";
  e.outcome = outcome;
  e.reason = outcome == "ok" ? "" : "key_not_active";
  e.detail = "{}";
  return e;
}

inline LedgerEntry lifecycle_entry(const std::string& event, const std::string& kid, int64_t ts_ms) {
  LedgerEntry e;
  e.ts_ms = ts_ms;
  e.kind = "lifecycle";
  e.event = event;
  e.keyset = "web";
  e.kid = kid;
  e.alg = "ES256";
  e.actor = "scheduler";
  e.actor_addr = "local";
  e.outcome = "ok";
  e.reason = "scheduled";
  e.detail = R"({"from":"pre-activation","to":"active"})";
  return e;
}

}  // namespace keymgr::db::testing
