// The ledger's hash chain: the one definition of how an entry is hashed. docs/ledger.md describes
// the same encoding for auditors; tests/db/ledger_doc_test.cc checks that the two agree.
//
//   hash(n) = SHA-256( prev_hash(n) || enc(entry n) ),   prev_hash(1) = 32 zero bytes
//   enc     = str("keymgr-ledger-v1") || i64(seq) || i64(ts_ms) || str(kind) || str(event)
//             || str(keyset) || str(kid) || str(alg) || str(actor) || str(actor_addr) || str(jti)
//             || str(sub) || str(aud) || i64(iat) || i64(exp) || str(token_sha256)
//             || str(outcome) || str(reason) || str(detail)
//   i64(x)  = 8 bytes, big-endian two's complement
//   str(s)  = u32 big-endian byte length || the bytes of s (UTF-8 as given, no normalisation)
//
// Length prefixes make the encoding injective (no two different entries share an encoding), and
// seq is inside the hash so an entry cannot be moved to another position unnoticed.
//
// enc is also the data of the entry's leaf in the transparency log (keymgr/ledger_log.h), and an
// inclusion proof file carries it, so relying parties decode it (ledger_decode_canonical).
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/encoding.h"
#include "common/status.h"
#include "db/records.h"

namespace keymgr::db {

inline constexpr std::string_view kLedgerHashTag = "keymgr-ledger-v1";
inline constexpr size_t kLedgerHashSize = 32;

// 32 zero bytes: prev_hash of entry 1.
const Bytes& ledger_genesis_hash();

// enc(entry) as above (uses entry.seq; ignores entry.prev_hash and entry.hash).
std::string ledger_canonical_encoding(const LedgerEntry& entry);

// The strict inverse of ledger_canonical_encoding: the entry (prev_hash and hash empty) whose
// encoding is exactly `enc`. InvalidArgument "ledger_encoding_malformed" for anything else: a wrong
// tag, input that ends inside a field, a length that runs past the end, trailing bytes. Text fields
// are returned as the bytes given (the encoder takes any bytes), so for every accepted input
// ledger_canonical_encoding(*ledger_decode_canonical(enc)) == enc.
Result<LedgerEntry> ledger_decode_canonical(std::string_view enc);

// SHA-256(prev_hash || enc(entry)).
Bytes ledger_entry_hash(const Bytes& prev_hash, const LedgerEntry& entry);

}  // namespace keymgr::db
