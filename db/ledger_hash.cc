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

// Reads enc() fields front to back; the first short read makes every later one fail too.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool i64(int64_t& out) {
    if (!ok_ || in_.size() < 8) return ok_ = false;
    uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<uint8_t>(in_[i]);
    out = static_cast<int64_t>(u);
    in_.remove_prefix(8);
    return true;
  }
  bool str(std::string& out) {
    if (!ok_ || in_.size() < 4) return ok_ = false;
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(4);
    if (in_.size() < n) return ok_ = false;
    out.assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return ok_ && in_.empty(); }

 private:
  std::string_view in_;
  bool ok_ = true;
};

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

Result<LedgerEntry> ledger_decode_canonical(std::string_view enc) {
  Reader r(enc);
  LedgerEntry e;
  std::string tag;
  if (!r.str(tag) || tag != kLedgerHashTag) {
    return InvalidArgument("not a keymgr ledger entry (tag is not keymgr-ledger-v1)", "ledger_encoding_malformed");
  }
  r.i64(e.seq);
  r.i64(e.ts_ms);
  for (std::string* f : {&e.kind, &e.event, &e.keyset, &e.kid, &e.alg, &e.actor, &e.actor_addr, &e.jti, &e.sub, &e.aud}) {
    r.str(*f);
  }
  r.i64(e.iat);
  r.i64(e.exp);
  for (std::string* f : {&e.token_sha256, &e.outcome, &e.reason, &e.detail}) r.str(*f);
  if (!r.done()) {
    return InvalidArgument("ledger entry encoding is truncated or has trailing bytes", "ledger_encoding_malformed");
  }
  return e;
}

Bytes ledger_entry_hash(const Bytes& prev_hash, const LedgerEntry& e) {
  std::string input(prev_hash.begin(), prev_hash.end());
  input += ledger_canonical_encoding(e);
  return sha256(input);
}

}  // namespace keymgr::db
