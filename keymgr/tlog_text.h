// The text formats of a transparency log over keymgr's ledger, and their verification:
//
// Checkpoint (C2SP tlog-checkpoint): the text of a signed note (keymgr/signed_note.h),
//   origin "\n" size "\n" base64(root) "\n" *(extension "\n")
//   origin: a non-empty line (the spec only RECOMMENDS a URL without spaces or '+'; Rekor's
//   "rekor.sigstore.dev - 2605736670972794746" is valid); size: decimal without leading zeros
//   ("0" for the empty tree), at most 2^64-1; root: standard base64 of the 32-byte RFC 6962 root;
//   extension lines: non-empty, opaque.
//
// Inclusion proof file (C2SP tlog-proof@v1, file extension .tlog-proof):
//   "c2sp.org/tlog-proof@v1\n"
//   ["extra " base64(extra) "\n"]           keymgr: the leaf's data (see below); never empty
//   "index " decimal "\n"                   zero-based, no leading zeros
//   *(base64(hash) "\n")                    RFC 6962 audit path, leaf's sibling first, <= 63
//   "\n"
//   signed checkpoint note, verbatim        (log signature, any witness cosignatures)
//
// The spec leaves computing the leaf hash to the application and offers "extra" for what the
// verifier needs to do it. keymgr puts the leaf's own data there: for the ledger, the entry's
// canonical encoding (db/ledger_hash.h), so a relying party recomputes leaf_hash(extra) and reads
// the entry (and e.g. the token SHA-256 in it) from bytes the proof authenticates. A verifier that
// holds the leaf data itself passes it instead and the extra line is not used.
//
// Consistency proof (C2SP tlog-witness add-checkpoint request body, byte for byte):
//   "old " decimal "\n" *(base64(hash) "\n") "\n" signed checkpoint note
//   (at most 63 hashes; the empty tree is consistent with every tree, so old 0 has no hashes).
//
// Parsers take bytes from outside: they never crash, allocate at most a small multiple of their
// input (size limits below), and refuse anything but the exact format (formatters emit exactly
// what the parsers accept, so parse(format(x)) == x).
//
// Errors: kInvalidArgument "checkpoint_malformed", "proof_malformed", "tlog_policy_invalid";
// kResourceExhausted "proof_too_large"; the signed note's reasons (keymgr/signed_note.h, e.g.
// "note_malformed", "note_bad_signature", "note_unverified"); kDataLoss "checkpoint_wrong_origin"
// (a verified checkpoint of another log), "witness_quorum" (too few known witnesses cosigned);
// the Merkle tree's "merkle_bad_argument" / "merkle_proof_mismatch" (db/merkle.h).
//
// Pure functions; thread-safe. Nothing throws.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/encoding.h"
#include "common/status.h"
#include "db/merkle.h"
#include "keymgr/signed_note.h"

namespace keymgr::tlog {

inline constexpr std::string_view kProofHeader = "c2sp.org/tlog-proof@v1";
// The longest audit path / consistency proof of a tree of at most 2^63 leaves (tlog-witness).
inline constexpr size_t kMaxProofHashes = 63;
inline constexpr size_t kMaxExtraSize = 64 * 1024;
inline constexpr size_t kMaxProofFileSize = note::kMaxNoteSize + 2 * kMaxExtraSize;

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  db::merkle::Hash root{};
  std::vector<std::string> extensions;

  bool operator==(const Checkpoint&) const = default;
};

// The note text of `cp`. checkpoint_malformed if a field cannot be written (empty origin or
// extension, a newline or control character or invalid UTF-8 in one, text larger than a note).
Result<std::string> format_checkpoint(const Checkpoint& cp);
// Strict inverse of format_checkpoint on a note's text (nothing is verified).
Result<Checkpoint> parse_checkpoint(std::string_view text);

struct InclusionProofFile {
  std::optional<Bytes> extra;  // keymgr: the leaf's data; when present, never empty
  uint64_t index = 0;
  db::merkle::Proof proof;     // RFC 6962 order, leaf's sibling first
  note::SignedNote checkpoint; // the signed checkpoint (its text parses as a Checkpoint)

  bool operator==(const InclusionProofFile&) const = default;
};

Result<std::string> format_inclusion_proof(const InclusionProofFile& p);
// Also checks that the note is a signed note whose text is a checkpoint (nothing is verified).
Result<InclusionProofFile> parse_inclusion_proof(std::string_view text);

struct ConsistencyProofFile {
  uint64_t old_size = 0;
  db::merkle::Proof proof;      // RFC 6962 consistency proof from old_size to the checkpoint's size
  note::SignedNote checkpoint;  // the new signed checkpoint

  bool operator==(const ConsistencyProofFile&) const = default;
};

Result<std::string> format_consistency_proof(const ConsistencyProofFile& p);
Result<ConsistencyProofFile> parse_consistency_proof(std::string_view text);

// What a relying party trusts.
struct TrustPolicy {
  std::string origin;                        // the log's origin line; required
  std::vector<note::NoteKey> log_keys;       // at least one must have signed; required
  std::vector<note::NoteKey> witness_keys;   // type 0x04 cosigners whose cosignatures are checked
  size_t witness_quorum = 0;                 // how many of witness_keys must have cosigned
};

struct Cosigned {
  note::NoteKey witness;
  uint64_t timestamp = 0;  // POSIX seconds, as signed
};

struct VerifiedCheckpoint {
  Checkpoint checkpoint;
  std::vector<note::NoteKey> log_signers;  // log keys whose signatures verified
  std::vector<Cosigned> cosigners;         // witness keys whose cosignatures verified
};

// Verifies the note's signatures (signed-note rules: a known key's bad signature fails the whole
// note), that a log key signed, that the text is a checkpoint of policy.origin, and that at least
// witness_quorum witness keys cosigned.
Result<VerifiedCheckpoint> verify_checkpoint(const note::SignedNote& note, const TrustPolicy& policy);

struct VerifiedInclusion {
  VerifiedCheckpoint checkpoint;
  uint64_t index = 0;
  db::merkle::Hash leaf_hash{};
};

// tlog-proof §Verifying: verify_checkpoint, then leaf_hash(leaf data) and the RFC 9162 inclusion
// proof against the checkpoint's root. `leaf_data`: the leaf's bytes as the caller knows them, or
// nullopt to take them from the proof's extra line (proof_malformed if it has none).
Result<VerifiedInclusion> verify_inclusion_proof(const InclusionProofFile& proof, const TrustPolicy& policy,
                                                 std::optional<std::string_view> leaf_data = std::nullopt);

// Verifies the new checkpoint of `proof` (verify_checkpoint) and that it extends `old`, a
// checkpoint the caller verified before: proof.old_size == old.size, same origin, and the RFC 9162
// consistency proof from old to new. Returns the new checkpoint.
Result<VerifiedCheckpoint> verify_consistency_proof(const ConsistencyProofFile& proof, const Checkpoint& old,
                                                    const TrustPolicy& policy);

}  // namespace keymgr::tlog
