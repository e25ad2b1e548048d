#include "keymgr/signed_note.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <limits>
#include <memory>

#include "common/crypto.h"
#include "hsm/public_key.h"

namespace keymgr::note {
namespace {

struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct PkeyCtxFree { void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); } };
struct EcdsaSigFree { void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); } };
struct BnFree { void operator()(BIGNUM* p) const { BN_free(p); } };
struct GroupFree { void operator()(EC_GROUP* p) const { EC_GROUP_free(p); } };
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

constexpr uint64_t kMaxTimestamp = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
constexpr size_t kEd25519SigSize = 64;
constexpr size_t kCosigSize = 8 + kEd25519SigSize;
constexpr size_t kMaxP256DerSig = 72;  // 30 46 (02 21 00 r) (02 21 00 s)

// The fixed DER prefixes of the SubjectPublicKeyInfo of an Ed25519 key (RFC 8410) and of a P-256
// key with a named curve and an uncompressed point (RFC 5480): the canonical forms we accept.
constexpr std::array<uint8_t, 12> kEd25519SpkiPrefix = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                                        0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
constexpr std::array<uint8_t, 27> kP256SpkiPrefix = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
    0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};
constexpr size_t kEd25519SpkiSize = kEd25519SpkiPrefix.size() + 32;
constexpr size_t kP256SpkiSize = kP256SpkiPrefix.size() + 64;

Status malformed(std::string msg) { return InvalidArgument("signed note: " + msg, "note_malformed"); }
Status too_large(std::string msg) { return ResourceExhausted("signed note: " + msg, "note_too_large"); }
Status bad_vkey(std::string msg) { return InvalidArgument("verifier key: " + msg, "vkey_malformed"); }
Status bad_key(std::string msg) { return InvalidArgument(std::move(msg), "note_bad_key"); }
Status bad_signature(const NoteKey& k, std::string why) {
  return DataLoss("signature by " + k.name + " does not verify: " + why, "note_bad_signature");
}
Status sign_failed(std::string msg) { return Internal("note signing: " + msg, "note_sign_failed"); }

// Decodes one UTF-8 sequence at s[i] strictly (no overlong forms, no surrogates, <= U+10FFFF).
// Returns the code point and advances i, or -1 for an invalid sequence.
int32_t next_code_point(std::string_view s, size_t& i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  if (c < 0x80) {
    ++i;
    return c;
  }
  size_t n;
  int32_t cp, min;
  if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07, min = 0x10000;
  else return -1;
  if (s.size() - i < n) return -1;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  i += n;
  return cp;
}

// Go's unicode.IsSpace: the Unicode White_Space property.
bool is_unicode_space(int32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
uint64_t be64(const uint8_t* p) { return uint64_t{be32(p)} << 32 | be32(p + 4); }
void put_be32(Bytes& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
void put_be64(Bytes& out, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

uint32_t hash_prefix(std::string_view data) { return be32(sha256(data).data()); }

std::string_view as_view(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

bool has_prefix(const Bytes& b, std::span<const uint8_t> prefix) {
  return b.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), b.begin());
}

Pkey parse_spki(const Bytes& der) {
  const unsigned char* p = der.data();
  Pkey k(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (k && p != der.data() + der.size()) k.reset();
  return k;
}

// The 32 raw bytes of an Ed25519 SubjectPublicKeyInfo (canonical DER only).
Result<Bytes> ed25519_raw(const hsm::PublicKey& key) {
  if (key.spki_der.size() != kEd25519SpkiSize || !has_prefix(key.spki_der, kEd25519SpkiPrefix)) {
    return bad_key("not an Ed25519 SubjectPublicKeyInfo");
  }
  Pkey k = parse_spki(key.spki_der);
  if (!k || EVP_PKEY_get_base_id(k.get()) != EVP_PKEY_ED25519) return bad_key("Ed25519 key rejected by OpenSSL");
  return Bytes(key.spki_der.end() - 32, key.spki_der.end());
}

// A P-256 SubjectPublicKeyInfo in canonical DER (named curve, uncompressed point) on the curve.
Status check_p256(const Bytes& der) {
  if (der.size() != kP256SpkiSize || !has_prefix(der, kP256SpkiPrefix)) {
    return bad_key("not a P-256 SubjectPublicKeyInfo with a named curve and an uncompressed point");
  }
  Pkey k = parse_spki(der);
  if (!k || EVP_PKEY_get_base_id(k.get()) != EVP_PKEY_EC) return bad_key("P-256 key rejected by OpenSSL");
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> chk(EVP_PKEY_CTX_new_from_pkey(nullptr, k.get(), nullptr));
  if (!chk || EVP_PKEY_public_check(chk.get()) != 1) return bad_key("P-256 point is not on the curve");
  return Status::Ok();
}

// The public key bytes of the key id and the verifier key string.
Bytes key_material(const NoteKey& k) {
  if (k.type == SigType::kEcdsa) return k.key.spki_der;
  return Bytes(k.key.spki_der.end() - 32, k.key.spki_der.end());
}

uint32_t compute_key_id(std::string_view name, SigType type, const Bytes& material) {
  if (type == SigType::kEcdsa) return hash_prefix(as_view(material));
  std::string in(name);
  in += '\n';
  in += static_cast<char>(type);
  in += as_view(material);
  return hash_prefix(in);
}

bool known_type(uint8_t t) {
  return t == static_cast<uint8_t>(SigType::kEd25519) || t == static_cast<uint8_t>(SigType::kEcdsa) ||
         t == static_cast<uint8_t>(SigType::kCosignatureV1);
}

// Text that can be the text of a note: ends in '\n', UTF-8 without control characters, fits.
Status check_text(std::string_view text) {
  if (text.empty() || text.back() != '\n') return malformed("text must end with a newline");
  if (text.size() > kMaxNoteSize) return too_large("text exceeds " + std::to_string(kMaxNoteSize) + " bytes");
  if (!is_valid_note_chars(text)) return malformed("text is not UTF-8 or holds a control character");
  return Status::Ok();
}

// The signature block: lines "— name base64\n", at least one, at most kMaxSignatures.
// REQUIRES is_valid_note_chars(block).
Result<std::vector<NoteSignature>> parse_block(std::string_view block) {
  if (block.empty() || block.back() != '\n') return malformed("no signature lines, or no final newline");
  std::vector<NoteSignature> out;
  while (!block.empty()) {
    const size_t nl = block.find('\n');
    std::string_view line = block.substr(0, nl);
    block.remove_prefix(nl + 1);
    if (out.size() == kMaxSignatures) {
      return too_large("more than " + std::to_string(kMaxSignatures) + " signatures");
    }
    if (line.substr(0, kSignaturePrefix.size()) != kSignaturePrefix) {
      return malformed("signature line " + std::to_string(out.size() + 1) + " does not start with \"— \"");
    }
    line.remove_prefix(kSignaturePrefix.size());
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return malformed("signature line without a signature");
    const std::string_view name = line.substr(0, sp);
    if (!is_valid_key_name(name)) return malformed("invalid key name in a signature line");
    auto sig = base64_decode(line.substr(sp + 1));
    if (!sig || sig->size() < 5) return malformed("signature is not base64 of 5 or more bytes");
    out.push_back(NoteSignature{std::string(name), be32(sig->data()), Bytes(sig->begin() + 4, sig->end())});
  }
  return out;
}

// Verifies one signature of `k` over `text`. OK or note_bad_signature.
Status verify_one(const NoteKey& k, std::string_view text, const Bytes& sig, uint64_t* timestamp_out) {
  switch (k.type) {
    case SigType::kEd25519: {
      if (sig.size() != kEd25519SigSize) return bad_signature(k, "Ed25519 signature must be 64 bytes");
      Status st = hsm::verify_jws_signature(k.key, Algorithm::kEdDSA, text, sig);
      return st.ok() ? st : bad_signature(k, st.message());
    }
    case SigType::kEcdsa: {
      auto raw = ecdsa_raw_from_der(sig);
      if (!raw.ok()) return bad_signature(k, raw.status().message());
      Status st = hsm::verify_jws_signature(k.key, Algorithm::kES256, text, *raw);
      return st.ok() ? st : bad_signature(k, st.message());
    }
    case SigType::kCosignatureV1: {
      if (sig.size() != kCosigSize) return bad_signature(k, "cosignature must be 8 + 64 bytes");
      const uint64_t ts = be64(sig.data());
      if (ts > kMaxTimestamp) return bad_signature(k, "cosignature timestamp above 2^63-1");
      Status st = hsm::verify_jws_signature(k.key, Algorithm::kEdDSA, cosignature_message(ts, text),
                                            Bytes(sig.begin() + 8, sig.end()));
      if (!st.ok()) return bad_signature(k, st.message());
      if (timestamp_out != nullptr) *timestamp_out = ts;
      return Status::Ok();
    }
  }
  return bad_signature(k, "unknown signature type");
}

bool same_key(const NoteKey& a, const NoteKey& b) { return a.type == b.type && a.key.spki_der == b.key.spki_der; }

}  // namespace

bool is_valid_note_chars(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const int32_t cp = next_code_point(s, i);
    if (cp < 0 || (cp < 0x20 && cp != '\n')) return false;
  }
  return true;
}

bool is_valid_key_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size();) {
    const int32_t cp = next_code_point(name, i);
    if (cp < 0x20 || cp == '+' || is_unicode_space(cp)) return false;  // also cp == -1 (bad UTF-8)
  }
  return true;
}

Result<NoteKey> make_note_key(std::string_view name, SigType type, const hsm::PublicKey& key) {
  if (!is_valid_key_name(name)) {
    return InvalidArgument("key name must be non-empty UTF-8 without spaces, '+' or control characters",
                           "note_bad_key_name");
  }
  NoteKey k{std::string(name), type, key, 0};
  switch (type) {
    case SigType::kEd25519:
    case SigType::kCosignatureV1: {
      if (key.alg != Algorithm::kEdDSA) return bad_key("signature type needs an EdDSA (Ed25519) key");
      ASSIGN_OR_RETURN(Bytes raw, ed25519_raw(key));
      k.key_id = compute_key_id(name, type, raw);
      return k;
    }
    case SigType::kEcdsa:
      if (key.alg != Algorithm::kES256) return bad_key("signature type 0x02 needs an ES256 (P-256) key");
      RETURN_IF_ERROR(check_p256(key.spki_der));
      k.key_id = compute_key_id(name, type, key.spki_der);
      return k;
  }
  return bad_key("unknown signature type");
}

std::string verifier_key_string(const NoteKey& key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(8, '0');
  for (int i = 0; i < 8; ++i) id[i] = kHex[(key.key_id >> (28 - 4 * i)) & 0xF];
  Bytes blob{static_cast<uint8_t>(key.type)};
  const Bytes material = key_material(key);
  blob.insert(blob.end(), material.begin(), material.end());
  return key.name + "+" + id + "+" + base64_encode(blob);
}

Result<NoteKey> parse_verifier_key(std::string_view vkey) {
  if (vkey.size() > 4096) return bad_vkey("longer than 4096 bytes");
  const size_t p1 = vkey.find('+');
  if (p1 == std::string_view::npos) return bad_vkey("expected name+keyid+key");
  const size_t p2 = vkey.find('+', p1 + 1);
  if (p2 == std::string_view::npos) return bad_vkey("expected name+keyid+key");
  const std::string_view name = vkey.substr(0, p1), id_hex = vkey.substr(p1 + 1, p2 - p1 - 1),
                         b64 = vkey.substr(p2 + 1);
  if (!is_valid_key_name(name)) return bad_vkey("invalid key name");
  if (id_hex.size() != 8 || id_hex.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return bad_vkey("key id must be 8 lowercase hex digits");
  }
  auto blob = base64_decode(b64);
  if (!blob || blob->empty()) return bad_vkey("key is not base64");
  if (!known_type((*blob)[0])) {
    return InvalidArgument("verifier key: unknown signature type " + std::to_string((*blob)[0]), "vkey_unknown_type");
  }
  const auto type = static_cast<SigType>((*blob)[0]);
  const Bytes material(blob->begin() + 1, blob->end());
  hsm::PublicKey pk;
  if (type == SigType::kEcdsa) {
    pk = {Algorithm::kES256, material};
  } else {
    if (material.size() != 32) return bad_vkey("Ed25519 key must be 32 bytes");
    auto spki = hsm::spki_from_ed25519(material);
    if (!spki.ok()) return bad_vkey(spki.status().message());
    pk = {Algorithm::kEdDSA, std::move(spki).value()};
  }
  auto key = make_note_key(name, type, pk);
  if (!key.ok()) return bad_vkey(key.status().message());
  const uint32_t want = be32(hex_decode(id_hex)->data());
  if (key->key_id != want) {
    return InvalidArgument("verifier key: key id " + std::string(id_hex) + " is not the key's", "vkey_bad_key_id");
  }
  return key;
}

Result<SignedNote> parse_note(std::string_view msg) {
  if (msg.size() > kMaxNoteSize) return too_large("longer than " + std::to_string(kMaxNoteSize) + " bytes");
  if (!is_valid_note_chars(msg)) return malformed("not UTF-8 or holds a control character");
  const size_t split = msg.rfind("\n\n");
  if (split == std::string_view::npos) return malformed("no blank line before the signatures");
  SignedNote n;
  ASSIGN_OR_RETURN(n.sigs, parse_block(msg.substr(split + 2)));
  n.text = std::string(msg.substr(0, split + 1));
  return n;
}

std::string format_signature_line(const NoteSignature& sig) {
  Bytes b;
  b.reserve(4 + sig.sig.size());
  put_be32(b, sig.key_id);
  b.insert(b.end(), sig.sig.begin(), sig.sig.end());
  return std::string(kSignaturePrefix) + sig.name + " " + base64_encode(b) + "\n";
}

Result<std::string> format_note(const SignedNote& note) {
  RETURN_IF_ERROR(check_text(note.text));
  if (note.sigs.empty()) return malformed("a note needs at least one signature");
  if (note.sigs.size() > kMaxSignatures) return too_large("more than " + std::to_string(kMaxSignatures) + " signatures");
  std::string out = note.text + "\n";
  for (const NoteSignature& s : note.sigs) {
    if (!is_valid_key_name(s.name)) return InvalidArgument("invalid key name in a signature", "note_bad_key_name");
    if (s.sig.empty()) return malformed("empty signature");
    if (out.size() + s.name.size() + s.sig.size() * 4 / 3 > kMaxNoteSize) {
      return too_large("longer than " + std::to_string(kMaxNoteSize) + " bytes");
    }
    out += format_signature_line(s);
  }
  if (out.size() > kMaxNoteSize) return too_large("longer than " + std::to_string(kMaxNoteSize) + " bytes");
  return out;
}

Result<std::vector<NoteSignature>> parse_signature_lines(std::string_view lines) {
  if (lines.size() > kMaxNoteSize) return too_large("longer than " + std::to_string(kMaxNoteSize) + " bytes");
  if (!is_valid_note_chars(lines)) return malformed("not UTF-8 or holds a control character");
  return parse_block(lines);
}

Result<NoteSignature> sign_note(std::string_view text, const NoteKey& key, const SignFn& sign) {
  if (key.type == SigType::kCosignatureV1) {
    return InvalidArgument("a cosignature/v1 key signs with cosign()", "note_wrong_key_type");
  }
  RETURN_IF_ERROR(check_text(text));
  ASSIGN_OR_RETURN(Bytes sig, sign(text));
  if (key.type == SigType::kEcdsa) {
    auto der = ecdsa_der_from_raw(sig);
    if (!der.ok()) return sign_failed("the signer's ES256 signature: " + der.status().message());
    sig = std::move(der).value();
  } else if (sig.size() != kEd25519SigSize) {
    return sign_failed("the signer returned " + std::to_string(sig.size()) + " bytes, not an Ed25519 signature");
  }
  Status st = verify_one(key, text, sig, nullptr);
  if (!st.ok()) return sign_failed("the signature does not verify under " + key.name + ": " + st.message());
  return NoteSignature{key.name, key.key_id, std::move(sig)};
}

Result<std::vector<NoteKey>> verify_note(const SignedNote& note, std::span<const NoteKey> known) {
  std::vector<NoteKey> verified;
  for (const NoteSignature& s : note.sigs) {
    const NoteKey* match = nullptr;
    for (const NoteKey& k : known) {
      if (k.name != s.name || k.key_id != s.key_id) continue;
      if (match != nullptr && !same_key(*match, k)) {
        return InvalidArgument("two known keys share name " + k.name + " and a key id", "note_ambiguous_key");
      }
      match = &k;
    }
    if (match == nullptr) continue;  // unknown signer: ignored (spec)
    // Every line of a known key is verified, repeated ones too: a bad one rejects the note.
    RETURN_IF_ERROR(verify_one(*match, note.text, s.sig, nullptr));
    const bool seen = std::any_of(verified.begin(), verified.end(),
                                  [&](const NoteKey& v) { return v.name == match->name && v.key_id == match->key_id; });
    if (!seen) verified.push_back(*match);
  }
  if (verified.empty()) return DataLoss("signed note: no signature by a known key", "note_unverified");
  return verified;
}

std::string cosignature_message(uint64_t timestamp, std::string_view checkpoint_text) {
  std::string m = "cosignature/v1\ntime " + std::to_string(timestamp) + "\n";
  m += checkpoint_text;
  return m;
}

Result<NoteSignature> cosign(std::string_view checkpoint_text, const NoteKey& key, uint64_t timestamp,
                             const SignFn& sign) {
  if (key.type != SigType::kCosignatureV1) {
    return InvalidArgument("cosign needs a cosignature/v1 (0x04) key", "note_wrong_key_type");
  }
  if (timestamp > kMaxTimestamp) return InvalidArgument("cosignature timestamp above 2^63-1", "note_malformed");
  RETURN_IF_ERROR(check_text(checkpoint_text));
  ASSIGN_OR_RETURN(Bytes ed, sign(cosignature_message(timestamp, checkpoint_text)));
  if (ed.size() != kEd25519SigSize) {
    return sign_failed("the signer returned " + std::to_string(ed.size()) + " bytes, not an Ed25519 signature");
  }
  Bytes sig;
  sig.reserve(kCosigSize);
  put_be64(sig, timestamp);
  sig.insert(sig.end(), ed.begin(), ed.end());
  Status st = verify_one(key, checkpoint_text, sig, nullptr);
  if (!st.ok()) return sign_failed("the cosignature does not verify under " + key.name + ": " + st.message());
  return NoteSignature{key.name, key.key_id, std::move(sig)};
}

Status verify_cosignature(const NoteKey& key, std::string_view checkpoint_text, const NoteSignature& sig,
                          uint64_t* timestamp_out) {
  if (key.type != SigType::kCosignatureV1) {
    return InvalidArgument("not a cosignature/v1 (0x04) key", "note_wrong_key_type");
  }
  if (sig.name != key.name || sig.key_id != key.key_id) {
    return malformed("the signature is not by " + key.name);
  }
  return verify_one(key, checkpoint_text, sig.sig, timestamp_out);
}

Result<uint64_t> cosignature_timestamp(const NoteSignature& sig) {
  if (sig.sig.size() != kCosigSize) return malformed("a cosignature is 8 + 64 bytes");
  return be64(sig.sig.data());
}

Result<Bytes> ecdsa_der_from_raw(const Bytes& raw) {
  if (raw.size() != 64) return InvalidArgument("ECDSA P-256 signature must be raw r||s of 64 bytes", "bad_signature");
  std::unique_ptr<EC_GROUP, GroupFree> group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  if (!group) return Internal("EC group unavailable", "internal");
  const BIGNUM* order = EC_GROUP_get0_order(group.get());
  Bn r(BN_bin2bn(raw.data(), 32, nullptr));
  Bn s(BN_bin2bn(raw.data() + 32, 32, nullptr));
  if (!r || !s) return Internal("BN_bin2bn failed", "internal");
  if (BN_is_zero(r.get()) || BN_is_zero(s.get()) || BN_cmp(r.get(), order) >= 0 || BN_cmp(s.get(), order) >= 0) {
    return InvalidArgument("ECDSA r or s out of range", "bad_signature");
  }
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> es(ECDSA_SIG_new());
  if (!es || ECDSA_SIG_set0(es.get(), r.get(), s.get()) != 1) return Internal("ECDSA_SIG_set0 failed", "internal");
  r.release();
  s.release();
  unsigned char* der = nullptr;
  const int n = i2d_ECDSA_SIG(es.get(), &der);
  if (n <= 0) return Internal("i2d_ECDSA_SIG failed", "internal");
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
}

Result<Bytes> ecdsa_raw_from_der(const Bytes& der) {
  const auto bad = [](const char* why) { return InvalidArgument(std::string("ECDSA DER signature: ") + why, "bad_signature"); };
  if (der.empty() || der.size() > kMaxP256DerSig) return bad("not 1..72 bytes");
  const unsigned char* p = der.data();
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!es) return bad("not an ECDSA-Sig-Value");
  if (p != der.data() + der.size()) return bad("bytes after the SEQUENCE");
  // Canonical: re-encoding gives the same bytes (minimal lengths and INTEGERs, no BER forms).
  unsigned char* again = nullptr;
  const int n = i2d_ECDSA_SIG(es.get(), &again);
  const bool same = n > 0 && static_cast<size_t>(n) == der.size() && std::equal(der.begin(), der.end(), again);
  OPENSSL_free(again);
  if (!same) return bad("not canonical DER");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(es.get(), &r, &s);
  if (BN_is_negative(r) || BN_is_negative(s) || BN_is_zero(r) || BN_is_zero(s)) return bad("r or s not positive");
  Bytes raw(64);
  if (BN_bn2binpad(r, raw.data(), 32) != 32 || BN_bn2binpad(s, raw.data() + 32, 32) != 32) {
    return bad("r or s longer than 32 bytes");
  }
  return raw;
}

}  // namespace keymgr::note
