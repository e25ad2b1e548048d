// Signed notes (C2SP signed-note, the format of golang.org/x/mod/sumdb/note): text signed by one
// or more keys, and the keys' text form ("verifier keys"). Checkpoints (keymgr/tlog_text.h) and
// witness cosignatures (C2SP tlog-cosignature) are signed notes.
//
//   note      = text "\n" 1*sigline          text: valid UTF-8 ending in "\n", may hold blank lines
//   sigline   = "— " name " " base64(key_id ‖ signature) "\n"      (U+2014 EM DASH, a space)
//
// The text is separated from the signatures by the LAST blank line. The whole note is valid UTF-8
// without ASCII control characters other than "\n". Key names are non-empty, without Unicode
// spaces, "+" or control characters. base64 is RFC 4648 §4 (standard alphabet, padded), and
// only its canonical form is accepted (x/mod also accepts non-zero trailing bits; no encoder emits
// them).
//
// Signature types and key ids (key_id = first 4 bytes of the hash, big-endian):
//   0x01 Ed25519 (RFC 8032) over the text;
//        key_id = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4]
//   0x02 ECDSA P-256 as github.com/transparency-dev/witness implements it: SHA-256 of the text,
//        signature an ASN.1 DER ECDSA-Sig-Value (only canonical DER is accepted);
//        key_id = SHA-256(DER SubjectPublicKeyInfo)[:4]   (no name, no type byte)
//   0x04 cosignature/v1 (C2SP tlog-cosignature, Ed25519): signature = u64be(timestamp) ‖ Ed25519
//        over "cosignature/v1\ntime <timestamp>\n" ‖ text;
//        key_id = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ 32-byte public key)[:4]
//
// Verifier key (what auditors configure):  name "+" hex8(key_id) "+" base64(type ‖ public key),
// public key = the 32 raw bytes for 0x01 and 0x04, the DER SubjectPublicKeyInfo for 0x02.
//
// Signing goes through a callback (the HSM): keymgr never holds a private key. For 0x01 and 0x04
// it returns a pure Ed25519 signature of the bytes it is given; for 0x02 the HSM's ES256 JWS
// signature (SHA-256 then ECDSA P-256) as raw r‖s, which sign_note turns into DER. Every
// signature made is verified before it is returned, so a wrong or faulty key never yields a note.
//
// Limits (spec: at least 16 signatures must be accepted): a note is at most kMaxNoteSize bytes
// (room for 16 post-quantum signatures of 5 kB) with at most kMaxSignatures signature lines (as
// x/mod). Parsers allocate at most a small multiple of their input.
//
// Errors (kInvalidArgument unless said otherwise): "note_malformed" (not a signed note),
// "note_too_large" (kResourceExhausted), "note_bad_key_name", "note_bad_key" (a public key that is
// not one of the type's), "vkey_malformed", "vkey_unknown_type", "vkey_bad_key_id",
// "note_ambiguous_key" (two known keys with one name and key id), "note_wrong_key_type";
// "note_bad_signature" (kDataLoss: a known key's signature does not verify), "note_unverified"
// (kDataLoss: no signature by a known key); "note_sign_failed" (kInternal: the callback's
// signature has the wrong form or does not verify; a callback error is passed on unchanged).
//
// Pure functions of their arguments (plus OpenSSL); thread-safe. Nothing throws.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/encoding.h"
#include "common/status.h"
#include "hsm/hsm.h"

namespace keymgr::note {

enum class SigType : uint8_t { kEd25519 = 0x01, kEcdsa = 0x02, kCosignatureV1 = 0x04 };

inline constexpr size_t kMaxNoteSize = 128 * 1024;
inline constexpr size_t kMaxSignatures = 100;
// "— " in UTF-8.
inline constexpr std::string_view kSignaturePrefix = "\xE2\x80\x94 ";

// A public key as notes know it. `key` holds the SubjectPublicKeyInfo (alg kEdDSA for 0x01/0x04,
// kES256 for 0x02). Build with make_note_key or parse_verifier_key, which compute key_id.
struct NoteKey {
  std::string name;
  SigType type = SigType::kEd25519;
  hsm::PublicKey key{Algorithm::kEdDSA, {}};
  uint32_t key_id = 0;
};

// Valid UTF-8 (no overlong forms, no surrogates) without ASCII control characters other than
// "\n": the characters a note may hold.
bool is_valid_note_chars(std::string_view s);

// Non-empty, valid UTF-8, no Unicode space (as Go's unicode.IsSpace), no '+', no control character.
bool is_valid_key_name(std::string_view name);

// Checks name and key (type 0x01/0x04: an Ed25519 key; 0x02: a P-256 key in canonical DER, i.e. a
// named curve and an uncompressed point) and computes the key id.
Result<NoteKey> make_note_key(std::string_view name, SigType type, const hsm::PublicKey& key);

// name+hex8(key_id)+base64(type ‖ public key). Lowercase hex, as x/mod writes it.
std::string verifier_key_string(const NoteKey& key);
// Strict inverse of verifier_key_string: exactly three parts, 8 lowercase hex digits, canonical
// base64, a known type, a valid key of that type, and the key id recomputed and equal.
Result<NoteKey> parse_verifier_key(std::string_view vkey);

struct NoteSignature {
  std::string name;
  uint32_t key_id = 0;
  Bytes sig;  // the signature proper, without the 4 key-id bytes (never empty)

  bool operator==(const NoteSignature&) const = default;
};

struct SignedNote {
  std::string text;  // including its final "\n", without the separating blank line
  std::vector<NoteSignature> sigs;

  bool operator==(const SignedNote&) const = default;
};

// Parses a note (nothing is verified). Keeps every signature line, in order, duplicates included.
Result<SignedNote> parse_note(std::string_view msg);
// The exact bytes of `note`. Refuses (note_malformed / note_bad_key_name / note_too_large) what
// parse_note would not return unchanged; for what it accepts, parse_note(*format_note(n)) == n.
Result<std::string> format_note(const SignedNote& note);

// One signature line ("— name base64\n"). REQUIRES is_valid_key_name(sig.name), sig.sig non-empty.
std::string format_signature_line(const NoteSignature& sig);
// One or more signature lines and nothing else: a witness's add-checkpoint response body
// (C2SP tlog-witness). Same rules and limits as the signature block of a note.
Result<std::vector<NoteSignature>> parse_signature_lines(std::string_view lines);

// The signer: given the exact bytes to sign, returns the signature (see the header comment).
using SignFn = std::function<Result<Bytes>(std::string_view message)>;

// Signs `text` (a valid note text: ends in "\n", UTF-8, no control characters, fits a note) with a
// 0x01 or 0x02 key. A 0x04 key is note_wrong_key_type: use cosign.
Result<NoteSignature> sign_note(std::string_view text, const NoteKey& key, const SignFn& sign);

// Verifies `note` as the spec says: signature lines whose (name, key id) match no key in `known`
// are ignored, even if the name or the id alone matches; repeated lines of one key count once; a
// known key whose signature fails makes the whole note fail (note_bad_signature); if no known key
// verified, note_unverified. Returns the known keys that verified, in signature-line order.
// 0x04 keys verify cosignatures here too (their timestamp: cosignature_timestamp).
Result<std::vector<NoteKey>> verify_note(const SignedNote& note, std::span<const NoteKey> known);

// ---- cosignature/v1 (C2SP tlog-cosignature, Ed25519) ----

// "cosignature/v1\ntime <decimal timestamp>\n" ‖ checkpoint_text: the bytes the Ed25519 key signs.
std::string cosignature_message(uint64_t timestamp, std::string_view checkpoint_text);

// The cosignature of a witness with `key` (type 0x04) on `checkpoint_text` at `timestamp` (POSIX
// seconds, at most 2^63-1). `sign` signs the cosignature_message with pure Ed25519.
Result<NoteSignature> cosign(std::string_view checkpoint_text, const NoteKey& key, uint64_t timestamp,
                             const SignFn& sign);

// Verifies one cosignature. `sig` must carry key's name and id (else note_wrong_key_type for a
// non-0x04 key, note_malformed for another name/id); a bad signature or a timestamp above 2^63-1 is
// note_bad_signature. On success stores the signed timestamp in *timestamp_out (if not null).
Status verify_cosignature(const NoteKey& key, std::string_view checkpoint_text, const NoteSignature& sig,
                          uint64_t* timestamp_out);

// The timestamp a 0x04 signature carries (unverified!): its first 8 bytes, big-endian.
// note_malformed unless the signature is 8 + 64 bytes.
Result<uint64_t> cosignature_timestamp(const NoteSignature& sig);

// ---- ECDSA signature encodings (type 0x02 carries DER; the HSM and JWS use raw r‖s) ----

// Raw r‖s (64 bytes, P-256) to a DER ECDSA-Sig-Value. r and s must be in [1, n-1].
Result<Bytes> ecdsa_der_from_raw(const Bytes& raw);
// DER ECDSA-Sig-Value to raw r‖s (64 bytes). Only canonical DER (minimal INTEGERs, exact lengths,
// nothing after the SEQUENCE) with r and s in [1, 2^256) is accepted; range against n is checked
// by verification.
Result<Bytes> ecdsa_raw_from_der(const Bytes& der);

}  // namespace keymgr::note
