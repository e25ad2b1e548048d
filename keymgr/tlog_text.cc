#include "keymgr/tlog_text.h"

#include <algorithm>

namespace keymgr::tlog {
namespace {

namespace merkle = db::merkle;

Status cp_malformed(std::string msg) { return InvalidArgument("checkpoint: " + msg, "checkpoint_malformed"); }
Status proof_malformed(std::string msg) { return InvalidArgument("tlog proof: " + msg, "proof_malformed"); }
Status bad_policy(std::string msg) { return InvalidArgument("trust policy: " + msg, "tlog_policy_invalid"); }

// Takes the next "\n"-terminated line off `rest`. False if there is none.
bool next_line(std::string_view& rest, std::string_view& line) {
  const size_t nl = rest.find('\n');
  if (nl == std::string_view::npos) return false;
  line = rest.substr(0, nl);
  rest.remove_prefix(nl + 1);
  return true;
}

// ASCII decimal, no sign, no leading zeros (except "0" itself), no overflow.
std::optional<uint64_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::optional<merkle::Hash> parse_hash(std::string_view b64) {
  if (b64.size() != 44) return std::nullopt;
  auto b = base64_decode(b64);
  if (!b || b->size() != 32) return std::nullopt;
  merkle::Hash h;
  std::copy(b->begin(), b->end(), h.begin());
  return h;
}

std::string hash_b64(const merkle::Hash& h) { return base64_encode(h.data(), h.size()); }

// A line a checkpoint can hold: non-empty, no newline, note characters only.
bool valid_line(std::string_view s) {
  return !s.empty() && s.find('\n') == std::string_view::npos && note::is_valid_note_chars(s);
}

// Hash lines up to (and including) the empty line that ends them.
Result<merkle::Proof> parse_hash_lines(std::string_view& rest) {
  merkle::Proof proof;
  std::string_view line;
  while (true) {
    if (!next_line(rest, line)) return proof_malformed("no empty line before the checkpoint");
    if (line.empty()) return proof;
    if (proof.size() == kMaxProofHashes) {
      return proof_malformed("more than " + std::to_string(kMaxProofHashes) + " proof hashes");
    }
    auto h = parse_hash(line);
    if (!h) return proof_malformed("proof line " + std::to_string(proof.size() + 1) + " is not base64 of 32 bytes");
    proof.push_back(*h);
  }
}

// The signed checkpoint that ends a proof file: a note whose text is a checkpoint.
Result<note::SignedNote> parse_checkpoint_note(std::string_view rest) {
  ASSIGN_OR_RETURN(note::SignedNote n, note::parse_note(rest));
  RETURN_IF_ERROR(parse_checkpoint(n.text).status());
  return n;
}

Status check_hashes_and_note(const merkle::Proof& proof, const note::SignedNote& n, std::string* out) {
  if (proof.size() > kMaxProofHashes) {
    return proof_malformed("more than " + std::to_string(kMaxProofHashes) + " proof hashes");
  }
  RETURN_IF_ERROR(parse_checkpoint(n.text).status());
  ASSIGN_OR_RETURN(std::string signed_note, note::format_note(n));
  for (const merkle::Hash& h : proof) *out += hash_b64(h) + "\n";
  *out += "\n";
  *out += signed_note;
  return Status::Ok();
}

bool same_key(const note::NoteKey& a, const note::NoteKey& b) {
  return a.name == b.name && a.key_id == b.key_id && a.type == b.type && a.key.spki_der == b.key.spki_der;
}

bool contains(const std::vector<note::NoteKey>& keys, const note::NoteKey& k) {
  return std::any_of(keys.begin(), keys.end(), [&](const note::NoteKey& x) { return same_key(x, k); });
}

}  // namespace

Result<std::string> format_checkpoint(const Checkpoint& cp) {
  if (!valid_line(cp.origin)) return cp_malformed("origin must be a non-empty line of note characters");
  std::string out = cp.origin + "\n" + std::to_string(cp.size) + "\n" + hash_b64(cp.root) + "\n";
  for (const std::string& e : cp.extensions) {
    if (!valid_line(e)) return cp_malformed("extension lines must be non-empty lines of note characters");
    if (out.size() + e.size() + 1 > note::kMaxNoteSize) return cp_malformed("larger than a note may be");
    out += e + "\n";
  }
  if (out.size() > note::kMaxNoteSize) return cp_malformed("larger than a note may be");
  return out;
}

Result<Checkpoint> parse_checkpoint(std::string_view text) {
  if (text.size() > note::kMaxNoteSize) return cp_malformed("larger than a note may be");
  if (!note::is_valid_note_chars(text)) return cp_malformed("not UTF-8 or holds a control character");
  if (text.empty() || text.back() != '\n') return cp_malformed("must end with a newline");
  Checkpoint cp;
  std::string_view rest = text, line;
  next_line(rest, line);
  if (line.empty()) return cp_malformed("empty origin line");
  cp.origin = std::string(line);
  if (!next_line(rest, line)) return cp_malformed("no tree size line");
  auto size = parse_decimal(line);
  if (!size) return cp_malformed("tree size must be decimal without leading zeros");
  cp.size = *size;
  if (!next_line(rest, line)) return cp_malformed("no root hash line");
  auto root = parse_hash(line);
  if (!root) return cp_malformed("root hash must be base64 of 32 bytes");
  cp.root = *root;
  while (next_line(rest, line)) {
    if (line.empty()) return cp_malformed("empty extension line");
    cp.extensions.emplace_back(line);
  }
  return cp;  // rest is empty: text ends with '\n'
}

Result<std::string> format_inclusion_proof(const InclusionProofFile& p) {
  std::string out = std::string(kProofHeader) + "\n";
  if (p.extra) {
    if (p.extra->empty()) return proof_malformed("extra data, when present, must not be empty");
    if (p.extra->size() > kMaxExtraSize) {
      return ResourceExhausted("tlog proof: extra data exceeds " + std::to_string(kMaxExtraSize) + " bytes",
                               "proof_too_large");
    }
    out += "extra " + base64_encode(*p.extra) + "\n";
  }
  out += "index " + std::to_string(p.index) + "\n";
  RETURN_IF_ERROR(check_hashes_and_note(p.proof, p.checkpoint, &out));
  return out;
}

Result<InclusionProofFile> parse_inclusion_proof(std::string_view text) {
  if (text.size() > kMaxProofFileSize) {
    return ResourceExhausted("tlog proof: larger than " + std::to_string(kMaxProofFileSize) + " bytes",
                             "proof_too_large");
  }
  InclusionProofFile p;
  std::string_view rest = text, line;
  if (!next_line(rest, line) || line != kProofHeader) {
    return proof_malformed("first line must be " + std::string(kProofHeader));
  }
  if (!next_line(rest, line)) return proof_malformed("no index line");
  if (line.starts_with("extra ")) {
    const std::string_view b64 = line.substr(6);
    if (b64.empty() || b64.size() > (kMaxExtraSize + 2) / 3 * 4) return proof_malformed("extra data empty or too large");
    auto extra = base64_decode(b64);
    if (!extra || extra->empty()) return proof_malformed("extra data is not base64");
    p.extra = std::move(extra);
    if (!next_line(rest, line)) return proof_malformed("no index line");
  }
  if (!line.starts_with("index ")) return proof_malformed("expected an index line");
  auto index = parse_decimal(line.substr(6));
  if (!index) return proof_malformed("index must be decimal without leading zeros");
  p.index = *index;
  ASSIGN_OR_RETURN(p.proof, parse_hash_lines(rest));
  ASSIGN_OR_RETURN(p.checkpoint, parse_checkpoint_note(rest));
  return p;
}

Result<std::string> format_consistency_proof(const ConsistencyProofFile& p) {
  std::string out = "old " + std::to_string(p.old_size) + "\n";
  RETURN_IF_ERROR(check_hashes_and_note(p.proof, p.checkpoint, &out));
  return out;
}

Result<ConsistencyProofFile> parse_consistency_proof(std::string_view text) {
  if (text.size() > kMaxProofFileSize) {
    return ResourceExhausted("consistency proof: larger than " + std::to_string(kMaxProofFileSize) + " bytes",
                             "proof_too_large");
  }
  ConsistencyProofFile p;
  std::string_view rest = text, line;
  if (!next_line(rest, line) || !line.starts_with("old ")) return proof_malformed("first line must be \"old <size>\"");
  auto old_size = parse_decimal(line.substr(4));
  if (!old_size) return proof_malformed("old size must be decimal without leading zeros");
  p.old_size = *old_size;
  ASSIGN_OR_RETURN(p.proof, parse_hash_lines(rest));
  ASSIGN_OR_RETURN(p.checkpoint, parse_checkpoint_note(rest));
  return p;
}

Result<VerifiedCheckpoint> verify_checkpoint(const note::SignedNote& n, const TrustPolicy& policy) {
  if (policy.origin.empty()) return bad_policy("no origin");
  if (policy.log_keys.empty()) return bad_policy("no log key");
  if (policy.witness_quorum > policy.witness_keys.size()) return bad_policy("quorum larger than the witnesses");
  for (const note::NoteKey& w : policy.witness_keys) {
    if (w.type != note::SigType::kCosignatureV1) return bad_policy("witness key " + w.name + " is not cosignature/v1");
  }
  ASSIGN_OR_RETURN(Checkpoint cp, parse_checkpoint(n.text));
  if (cp.origin != policy.origin) {
    return DataLoss("checkpoint of log '" + cp.origin + "', not of '" + policy.origin + "'", "checkpoint_wrong_origin");
  }
  if (cp.size == 0 && cp.root != merkle::empty_tree_hash()) {
    return cp_malformed("a checkpoint of the empty tree must carry the empty tree's hash");
  }
  std::vector<note::NoteKey> known = policy.log_keys;
  known.insert(known.end(), policy.witness_keys.begin(), policy.witness_keys.end());
  ASSIGN_OR_RETURN(std::vector<note::NoteKey> verified, note::verify_note(n, known));
  VerifiedCheckpoint out;
  out.checkpoint = std::move(cp);
  for (const note::NoteKey& k : verified) {
    if (contains(policy.log_keys, k)) out.log_signers.push_back(k);
    if (!contains(policy.witness_keys, k)) continue;
    // verify_note checked every line of this key; take the timestamp of its first.
    for (const note::NoteSignature& s : n.sigs) {
      if (s.name != k.name || s.key_id != k.key_id) continue;
      ASSIGN_OR_RETURN(uint64_t ts, note::cosignature_timestamp(s));
      out.cosigners.push_back(Cosigned{k, ts});
      break;
    }
  }
  if (out.log_signers.empty()) return DataLoss("checkpoint: not signed by a log key", "note_unverified");
  if (out.cosigners.size() < policy.witness_quorum) {
    return DataLoss("checkpoint: " + std::to_string(out.cosigners.size()) + " known witnesses cosigned, " +
                        std::to_string(policy.witness_quorum) + " required",
                    "witness_quorum");
  }
  return out;
}

Result<VerifiedInclusion> verify_inclusion_proof(const InclusionProofFile& proof, const TrustPolicy& policy,
                                                 std::optional<std::string_view> leaf_data) {
  if (!leaf_data) {
    if (!proof.extra) return proof_malformed("no leaf data: the proof has no extra line and none was given");
    leaf_data = std::string_view(reinterpret_cast<const char*>(proof.extra->data()), proof.extra->size());
  }
  VerifiedInclusion out;
  ASSIGN_OR_RETURN(out.checkpoint, verify_checkpoint(proof.checkpoint, policy));
  out.index = proof.index;
  out.leaf_hash = merkle::leaf_hash(*leaf_data);
  const Checkpoint& cp = out.checkpoint.checkpoint;
  Status st = merkle::verify_inclusion(out.leaf_hash, proof.index, cp.size, proof.proof, cp.root);
  if (!st.ok()) return st.with_context("inclusion of leaf " + std::to_string(proof.index) + " in tree " + std::to_string(cp.size));
  return out;
}

Result<VerifiedCheckpoint> verify_consistency_proof(const ConsistencyProofFile& proof, const Checkpoint& old,
                                                    const TrustPolicy& policy) {
  ASSIGN_OR_RETURN(VerifiedCheckpoint now, verify_checkpoint(proof.checkpoint, policy));
  if (old.origin != now.checkpoint.origin) {
    return DataLoss("old checkpoint of log '" + old.origin + "', new of '" + now.checkpoint.origin + "'",
                    "checkpoint_wrong_origin");
  }
  if (proof.old_size != old.size) {
    return proof_malformed("proof from size " + std::to_string(proof.old_size) + ", old checkpoint has " +
                           std::to_string(old.size));
  }
  Status st = merkle::verify_consistency(old.size, now.checkpoint.size, proof.proof, old.root, now.checkpoint.root);
  if (!st.ok()) {
    return st.with_context("consistency " + std::to_string(old.size) + " -> " + std::to_string(now.checkpoint.size));
  }
  return now;
}

}  // namespace keymgr::tlog
