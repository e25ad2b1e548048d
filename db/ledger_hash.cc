#include "db/ledger_hash.h"

#include <cstdint>

#include "common/crypto.h"

namespace keymgr::db {
namespace {

void put_i64(std::string& out, int64_t v) {
  auto u = static_cast<uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((u >> shift) & 0xff));
}

void put_str(std::string& out, std::string_view s) {
  auto n = static_cast<uint32_t>(s.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(s);
}

}  // namespace

const Bytes& ledger_genesis_hash() {
  static const Bytes kZero(kLedgerHashSize, 0);
  return kZero;
}

std::string ledger_canonical_encoding(const LedgerEntry& e) {
  std::string out;
  out.reserve(256 + e.detail.size() + e.reason.size());
  put_str(out, kLedgerHashTag);
  put_i64(out, e.seq);
  put_i64(out, e.ts_ms);
  put_str(out, e.kind);
  put_str(out, e.event);
  put_str(out, e.keyset);
  put_str(out, e.kid);
  put_str(out, e.alg);
  put_str(out, e.actor);
  put_str(out, e.actor_addr);
  put_str(out, e.jti);
  put_str(out, e.sub);
  put_str(out, e.aud);
  put_i64(out, e.iat);
  put_i64(out, e.exp);
  put_str(out, e.token_sha256);
  put_str(out, e.outcome);
  put_str(out, e.reason);
  put_str(out, e.detail);
  return out;
}

Bytes ledger_entry_hash(const Bytes& prev_hash, const LedgerEntry& e) {
  std::string input(prev_hash.begin(), prev_hash.end());
  input += ledger_canonical_encoding(e);
  return sha256(input);
}

}  // namespace keymgr::db
