// Signed notes (keymgr/signed_note.h) against the C2SP signed-note and tlog-cosignature specs, the
// known answers of golang.org/x/mod/sumdb/note's own tests and of the C2SP / transparency-dev
// examples, every malformed-input class, and — as independent checkers — x/mod's note.Open and
// note.Sign (tests/interop/note_check.go).
#include <gtest/gtest.h>

#include <openssl/bn.h>
#include <openssl/ec.h>

#include <string>
#include <vector>

#include "common/crypto.h"
#include "common/encoding.h"
#include "hsm/public_key.h"
#include "keymgr/signed_note.h"
#include "tests/keymgr/note_test_keys.h"
#include "tests/support/fake_hsm.h"
#include "tests/support/go_checker.h"

namespace keymgr::note {
namespace {

using testing::Ed25519TestKey;

// ---- golang.org/x/mod/sumdb/note note_test.go ----
constexpr std::string_view kPeterVkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr std::string_view kPeterSkeyBlob = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";  // 0x01 || seed
constexpr std::string_view kEnochVkey = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
constexpr std::string_view kPeterText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr std::string_view kPeterSig =
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
constexpr std::string_view kEnochSig =
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

// ---- C2SP signed-note §Verifier keys example ----
constexpr std::string_view kFooVkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
constexpr std::string_view kFooNote =
    "This is an example message.\n\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

// ---- public ECDSA (0x02) and cosignature (0x04) verifier keys ----
// Sigstore Rekor's log key as transparency-dev/witness configures it.
constexpr std::string_view kRekorVkey =
    "rekor.sigstore.dev+c0d23d6a+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+"
    "smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc=";
// transparency-dev/formats note_cosigv1_test.go: a native cosignature/v1 witness key, and a 0x01 key.
constexpr std::string_view kRemoraVkey = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";
constexpr std::string_view kTestVkey = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6";

NoteKey vkey(std::string_view s) {
  auto k = parse_verifier_key(s);
  EXPECT_TRUE(k.ok()) << s << ": " << k.status().to_string();
  return k.ok() ? *k : NoteKey{};
}

std::string reason(const Status& s) { return std::string(s.reason()); }
template <typename T>
std::string reason(const Result<T>& r) {
  return r.ok() ? "ok" : std::string(r.status().reason());
}

std::string str(const Result<std::string>& r) { return r.ok() ? *r : "<" + r.status().to_string() + ">"; }

std::vector<std::string> names(const std::vector<NoteKey>& keys) {
  std::vector<std::string> out;
  for (const auto& k : keys) out.push_back(k.name);
  return out;
}

// ---- standard base64 (common/encoding.h) ----

TEST(NoteBase64, Rfc4648VectorsAndStrictness) {
  const std::pair<std::string, std::string> v[] = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},
                                                   {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                   {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, enc] : v) {
    EXPECT_EQ(base64_encode(to_bytes(plain)), enc);
    auto d = base64_decode(enc);
    ASSERT_TRUE(d.has_value()) << enc;
    EXPECT_EQ(to_string(*d), plain);
  }
  EXPECT_EQ(base64_encode(Bytes{0xfb, 0xff}), "+/8=");
  for (const char* bad : {"Zg", "Zg=", "Zh==", "Zm9=", "Zg==Zg==", "Z===", "====", "-_8=", "Zm 9v", "Zm9v\n", "Zm=v"}) {
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
  }
}

// ---- known answers ----

TEST(NoteKat, GoPeterNeumannKeySignsTheSameBytes) {
  NoteKey peter = vkey(kPeterVkey);
  EXPECT_EQ(peter.name, "PeterNeumann");
  EXPECT_EQ(peter.type, SigType::kEd25519);
  EXPECT_EQ(peter.key_id, 0xc74f20a3u);
  EXPECT_EQ(verifier_key_string(peter), kPeterVkey);

  // The private key of note_test.go: Ed25519 is deterministic, so sign_note must reproduce x/mod's
  // note byte for byte.
  auto blob = base64_decode(kPeterSkeyBlob);
  ASSERT_TRUE(blob.has_value());
  Ed25519TestKey key(Bytes(blob->begin() + 1, blob->end()));
  ASSERT_TRUE(key.ok());
  auto mine = make_note_key("PeterNeumann", SigType::kEd25519, key.public_key());
  ASSERT_TRUE(mine.ok());
  EXPECT_EQ(verifier_key_string(*mine), kPeterVkey);
  auto sig = sign_note(kPeterText, *mine, key.signer());
  ASSERT_TRUE(sig.ok()) << sig.status().to_string();
  EXPECT_EQ(str(format_note({std::string(kPeterText), {*sig}})), std::string(kPeterText) + "\n" + std::string(kPeterSig));
}

TEST(NoteKat, GoOpenSemantics) {
  const NoteKey peter = vkey(kPeterVkey), enoch = vkey(kEnochVkey);
  auto n = parse_note(std::string(kPeterText) + "\n" + std::string(kPeterSig) + std::string(kEnochSig));
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  ASSERT_EQ(n->sigs.size(), 2u);
  EXPECT_EQ(n->sigs[1].key_id, 0xaf0cfe78u);

  auto one = verify_note(*n, std::vector<NoteKey>{peter});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(names(*one), std::vector<std::string>{"PeterNeumann"});
  auto both = verify_note(*n, std::vector<NoteKey>{enoch, peter});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(names(*both), (std::vector<std::string>{"PeterNeumann", "EnochRoot"}));
  EXPECT_EQ(reason(verify_note(*n, {})), "note_unverified");
  EXPECT_EQ(verify_note(*n, {}).status().code(), ErrorCode::kDataLoss);

  // x/mod's "wrongHash" case: the signature now carries another key id: not Peter's any more.
  auto wrong = parse_note(std::string(kPeterText) + "\n— PeterNeumann xxxxo/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(reason(verify_note(*wrong, std::vector<NoteKey>{peter})), "note_unverified");
  // A known key's signature that does not verify rejects the whole note, whatever else verifies.
  SignedNote tampered = *n;
  tampered.sigs[0].sig[10] ^= 1;
  EXPECT_EQ(reason(verify_note(tampered, std::vector<NoteKey>{peter})), "note_bad_signature");
  EXPECT_EQ(reason(verify_note(tampered, std::vector<NoteKey>{peter, enoch})), "note_bad_signature");
  EXPECT_TRUE(verify_note(tampered, std::vector<NoteKey>{enoch}).ok()) << "an unknown signer's line is never checked";
  SignedNote other_text = *n;
  other_text.text = "If you think cryptography is the answer to your problem,\n";
  EXPECT_EQ(reason(verify_note(other_text, std::vector<NoteKey>{peter})), "note_bad_signature");
}

TEST(NoteKat, C2spExamples) {
  // signed-note §Verifier keys: the example key verifies the example note.
  const NoteKey foo = vkey(kFooVkey);
  EXPECT_EQ(foo.key_id, 0x530d903au);
  auto n = parse_note(kFooNote);
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  EXPECT_EQ(n->text, "This is an example message.\n");
  auto v = verify_note(*n, std::vector<NoteKey>{foo});
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(str(format_note(*n)), kFooNote);

  // The opening example: blank lines in the text, split at the last one; UTF-8 text.
  const std::string quasimodo =
      "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \xC3\xA8 subito sera.\n\n"
      "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
  auto q = parse_note(quasimodo);
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  EXPECT_EQ(q->text, "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \xC3\xA8 subito sera.\n");
  ASSERT_EQ(q->sigs.size(), 1u);
  EXPECT_EQ(q->sigs[0].name, "quasimodo.example/salvatore");
  EXPECT_EQ(q->sigs[0].key_id, 0x367ba04bu);
  EXPECT_EQ(q->sigs[0].sig.size(), 64u);
  EXPECT_EQ(str(format_note(*q)), quasimodo);
}

TEST(NoteKat, PublicVerifierKeysOfEveryType) {
  const NoteKey rekor = vkey(kRekorVkey);
  EXPECT_EQ(rekor.type, SigType::kEcdsa);
  EXPECT_EQ(rekor.key.alg, Algorithm::kES256);
  EXPECT_EQ(rekor.key_id, 0xc0d23d6au);
  EXPECT_EQ(rekor.key_id, (uint32_t{sha256(rekor.key.spki_der)[0]} << 24 | uint32_t{sha256(rekor.key.spki_der)[1]} << 16 |
                           uint32_t{sha256(rekor.key.spki_der)[2]} << 8 | sha256(rekor.key.spki_der)[3]))
      << "0x02 key id = SHA-256(DER SPKI)[:4]";
  EXPECT_EQ(verifier_key_string(rekor), kRekorVkey);

  const NoteKey remora = vkey(kRemoraVkey);
  EXPECT_EQ(remora.type, SigType::kCosignatureV1);
  EXPECT_EQ(remora.key_id, 0xda77ade7u);
  EXPECT_EQ(verifier_key_string(remora), kRemoraVkey);
  const NoteKey test = vkey(kTestVkey);
  EXPECT_EQ(test.type, SigType::kEd25519);
  EXPECT_EQ(verifier_key_string(test), kTestVkey);
  // The same Ed25519 key as a cosigner has another key id (type byte 0x04 in the hash).
  auto as_cosigner = make_note_key("TEST", SigType::kCosignatureV1, test.key);
  ASSERT_TRUE(as_cosigner.ok());
  EXPECT_NE(as_cosigner->key_id, test.key_id);

  // transparency-dev/formats TestCoSigV1Timestamp: a cosignature's timestamp, big-endian.
  auto sigs = parse_signature_lines(
      "— w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==\n");
  ASSERT_TRUE(sigs.ok()) << sigs.status().to_string();
  auto ts = cosignature_timestamp(sigs->at(0));
  ASSERT_TRUE(ts.ok());
  EXPECT_EQ(*ts, 1727964367u);
}

TEST(NoteKat, VerifierKeysAreStrict) {
  const std::pair<std::string, std::string> bad[] = {
      // x/mod's badKey cases
      {"PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", "vkey_malformed"},
      {"PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "vkey_unknown_type"},
      {"PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "vkey_bad_key_id"},
      {"PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "vkey_malformed"},
      {"PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "vkey_malformed"},
      {"PeterNeumann+c74f20a3", "vkey_malformed"},
      {"PeterNeumann", "vkey_malformed"},
      {"+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "vkey_malformed"},
      {"Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "vkey_malformed"},
      {"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW ", "vkey_malformed"},
      {"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX", "vkey_bad_key_id"},  // another key
      {"PeterNeumann+c74f20a3+", "vkey_malformed"},
      {"PeterNeumann+c74f20a3+AQ==", "vkey_malformed"},
      // Rekor's key, compressed point (0x02 keys must be canonical: named curve, uncompressed).
      // (key id correct for these bytes: only the encoding is wrong)
      {"rekor.sigstore.dev+edd20e4d+AjA5MBMGByqGSM49AgEGCCqGSM49AwEHAyIAA9htmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l",
       "vkey_malformed"},
  };
  for (const auto& [s, want] : bad) EXPECT_EQ(reason(parse_verifier_key(s)), want) << s;
  // Rekor's key with a byte appended to the DER.
  auto blob = base64_decode(std::string(kRekorVkey.substr(kRekorVkey.find('+', kRekorVkey.find('+') + 1) + 1)));
  ASSERT_TRUE(blob.has_value());
  blob->push_back(0);
  EXPECT_EQ(reason(parse_verifier_key("rekor.sigstore.dev+c0d23d6a+" + base64_encode(*blob))), "vkey_malformed");
}

// ---- malformed notes ----

TEST(NoteParse, EveryMalformedClassIsRefused) {
  const std::string sig = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";
  const std::string t = "text\n";
  ASSERT_TRUE(parse_note(t + "\n" + sig + "\n").ok());
  const std::pair<std::string, std::string> bad[] = {
      {"", "no blank line"},
      {t + sig + "\n", "no blank line"},
      {t + "\n" + sig, "no final newline"},
      {t + "\n", "no signature"},
      {t + "\n\n", "blank signature line"},
      {t + "\n" + sig + "\n\n", "blank line after the signatures"},
      {"te\xFFxt\n\n" + sig + "\n", "not UTF-8"},
      {"te\xC0\xAFxt\n\n" + sig + "\n", "overlong UTF-8"},
      {"te\xED\xA0\x80xt\n\n" + sig + "\n", "surrogate"},
      {"te\xF4\x90\x80\x80xt\n\n" + sig + "\n", "above U+10FFFF"},
      {"te\xE2\x80xt\n\n" + sig + "\n", "truncated UTF-8"},
      {"te\txt\n\n" + sig + "\n", "tab"},
      {"text\r\n\n" + sig + "\n", "carriage return"},
      {std::string("te\0xt\n\n", 8) + sig + "\n", "NUL"},
      {t + "\n" + sig + "\r\n", "CR in the signature block"},
      {t + "\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "hyphen, not em dash"},
      {t + "\n—PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "no space after the dash"},
      {t + "\n—  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "empty name"},
      {t + "\n— Peter+Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "plus in the name"},
      {t + "\n— Peter\xE3\x80\x80Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "ideographic space in the name"},
      {t + "\n— Peter\xC2\xA0Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "no-break space in the name"},
      {t + "\n— PeterNeumann\n", "no signature"},
      {t + "\n— PeterNeumann \n", "empty signature"},
      {t + "\n— PeterNeumann  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "two spaces"},
      {t + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM= \n", "trailing space"},
      {t + "\n— PeterNeumann x08go_ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "base64url character"},
      {t + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n", "no padding"},
      {t + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAN=\n", "non-canonical trailing bits"},
      {t + "\n— PeterNeumann AAAA\n", "3 bytes, no room for key id and signature"},
      {t + "\n— PeterNeumann AAAAAA==\n", "4 bytes: key id only"},
  };
  for (const auto& [msg, what] : bad) {
    auto n = parse_note(msg);
    EXPECT_EQ(reason(n), "note_malformed") << what;
    EXPECT_EQ(n.status().code(), n.ok() ? ErrorCode::kOk : ErrorCode::kInvalidArgument) << what;
  }
  EXPECT_TRUE(parse_note(t + "\n— P AAAAAAA=\n").ok()) << "5 bytes is the minimum";
}

TEST(NoteParse, LimitsAcceptSixteenAndAHundredSignaturesAndRefuseMore) {
  std::string block;
  for (int i = 0; i < 101; ++i) block += "— k" + std::to_string(i) + " AAAAAAA=\n";
  auto lines_upto = [&](int n) {
    std::string b;
    size_t pos = 0;
    for (int i = 0; i < n; ++i) pos = block.find('\n', pos) + 1;
    return block.substr(0, pos);
  };
  EXPECT_TRUE(parse_note("t\n\n" + lines_upto(16)).ok());
  auto hundred = parse_note("t\n\n" + lines_upto(100));
  ASSERT_TRUE(hundred.ok());
  EXPECT_EQ(hundred->sigs.size(), 100u);
  EXPECT_EQ(str(format_note(*hundred)), "t\n\n" + lines_upto(100));
  auto more = parse_note("t\n\n" + block);
  EXPECT_EQ(reason(more), "note_too_large");
  EXPECT_EQ(more.status().code(), ErrorCode::kResourceExhausted);

  // 16 post-quantum-sized signatures (ML-DSA-44 cosignatures: 4 + 8 + 2420 bytes) fit.
  std::string big = "t\n\n";
  for (int i = 0; i < 16; ++i) big += "— w" + std::to_string(i) + " " + base64_encode(Bytes(4 + 8 + 2420, 7)) + "\n";
  EXPECT_TRUE(parse_note(big).ok()) << big.size();
  EXPECT_EQ(reason(parse_note(std::string(kMaxNoteSize - 10, 'a') + "\n\n— k AAAAAAA=\n")), "note_too_large");
}

TEST(NoteParse, TextIsEverythingBeforeTheLastBlankLine) {
  auto n = parse_note("a\n\n— x AAAAAAA=\n\nb\n\n— k AAAAAAA=\n");
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  EXPECT_EQ(n->text, "a\n\n— x AAAAAAA=\n\nb\n");
  ASSERT_EQ(n->sigs.size(), 1u);
  auto blank_text = parse_note("\n\n— k AAAAAAA=\n");
  ASSERT_TRUE(blank_text.ok());
  EXPECT_EQ(blank_text->text, "\n");
  auto trailing_blank = parse_note("a\n\n\n— k AAAAAAA=\n");
  ASSERT_TRUE(trailing_blank.ok());
  EXPECT_EQ(trailing_blank->text, "a\n\n");
  EXPECT_EQ(str(format_note(*trailing_blank)), "a\n\n\n— k AAAAAAA=\n");
}

TEST(NoteFormat, RefusesWhatCouldNotBeParsedBack) {
  NoteSignature s{"k", 1, Bytes{1}};
  EXPECT_EQ(reason(format_note({"no newline", {s}})), "note_malformed");
  EXPECT_EQ(reason(format_note({"", {s}})), "note_malformed");
  EXPECT_EQ(reason(format_note({"t\n", {}})), "note_malformed");
  EXPECT_EQ(reason(format_note({"t\r\n", {s}})), "note_malformed");
  EXPECT_EQ(reason(format_note({"t\n", {NoteSignature{"a b", 1, Bytes{1}}}})), "note_bad_key_name");
  EXPECT_EQ(reason(format_note({"t\n", {NoteSignature{"k", 1, Bytes{}}}})), "note_malformed");
  EXPECT_EQ(reason(format_note({"t\n", std::vector<NoteSignature>(101, s)})), "note_too_large");
  EXPECT_EQ(str(format_note({"t\n", {s}})), "t\n\n— k AAAAAQE=\n");
}

TEST(NoteParse, SignatureLinesAlone) {
  auto sigs = parse_signature_lines(std::string(kPeterSig) + std::string(kEnochSig));
  ASSERT_TRUE(sigs.ok());
  EXPECT_EQ(sigs->size(), 2u);
  EXPECT_EQ(reason(parse_signature_lines("")), "note_malformed");
  EXPECT_EQ(reason(parse_signature_lines(std::string(kPeterSig) + "\n")), "note_malformed");
  EXPECT_EQ(reason(parse_signature_lines("text\n")), "note_malformed");
}

// ---- keys, signing and verification semantics ----

class NoteSigning : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ed = hsm_.generate_key(Algorithm::kEdDSA, "01", "ed");
    auto ec = hsm_.generate_key(Algorithm::kES256, "02", "ec");
    ASSERT_TRUE(ed.ok() && ec.ok());
    ed_ = *make_note_key("log.example/ed", SigType::kEd25519, ed->public_key);
    ec_ = *make_note_key("log.example/ec", SigType::kEcdsa, ec->public_key);
    ASSERT_TRUE(witness_.ok());
    auto w = make_note_key("witness.example/w1", SigType::kCosignatureV1, witness_.public_key());
    ASSERT_TRUE(w.ok());
    wit_ = *w;
  }
  // The HSM as the checkpoint signer calls it: EdDSA pure, ES256 raw r||s.
  SignFn hsm_signer(const char* id, Algorithm alg) {
    return [this, id, alg](std::string_view m) { return hsm_.sign(id, alg, m); };
  }

  testing::FakeHsm hsm_;
  Ed25519TestKey witness_;
  NoteKey ed_, ec_, wit_;
};

TEST_F(NoteSigning, KeysAreChecked) {
  EXPECT_EQ(make_note_key("other/name", SigType::kEcdsa, ec_.key)->key_id, ec_.key_id)
      << "0x02 key ids do not depend on the name";
  EXPECT_NE(ed_.key_id, make_note_key("other/name", SigType::kEd25519, ed_.key)->key_id);
  EXPECT_EQ(reason(make_note_key("log.example/ed", SigType::kEcdsa, ed_.key)), "note_bad_key");
  EXPECT_EQ(reason(make_note_key("log.example/ec", SigType::kEd25519, ec_.key)), "note_bad_key");
  EXPECT_EQ(reason(make_note_key("log.example/ec", SigType::kCosignatureV1, ec_.key)), "note_bad_key");
  auto p384 = hsm_.generate_key(Algorithm::kES384, "03", "p384");
  ASSERT_TRUE(p384.ok());
  EXPECT_EQ(reason(make_note_key("x", SigType::kEcdsa, p384->public_key)), "note_bad_key");
  hsm::PublicKey lying = ed_.key;
  lying.alg = Algorithm::kES256;
  EXPECT_EQ(reason(make_note_key("x", SigType::kEcdsa, lying)), "note_bad_key");
  for (const char* name : {"", "a b", "a+b", "a\nb", "a\tb", "a\xC2\xA0" "b", "a\xE2\x80\xA8" "b", "\xFF"}) {
    EXPECT_EQ(reason(make_note_key(name, SigType::kEd25519, ed_.key)), "note_bad_key_name") << name;
  }
  EXPECT_TRUE(make_note_key("k\xC3\xA9y/\xE2\x9C\x93", SigType::kEd25519, ed_.key).ok()) << "UTF-8 names";
  for (const NoteKey& k : {ed_, ec_, wit_}) {
    auto back = parse_verifier_key(verifier_key_string(k));
    ASSERT_TRUE(back.ok()) << verifier_key_string(k) << ": " << back.status().to_string();
    EXPECT_EQ(back->name, k.name);
    EXPECT_EQ(back->type, k.type);
    EXPECT_EQ(back->key_id, k.key_id);
    EXPECT_EQ(back->key.spki_der, k.key.spki_der);
  }
}

TEST_F(NoteSigning, HsmSignaturesOfBothTypesVerify) {
  const std::string text = "log.example\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
  auto a = sign_note(text, ed_, hsm_signer("01", Algorithm::kEdDSA));
  auto b = sign_note(text, ec_, hsm_signer("02", Algorithm::kES256));
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(a->sig.size(), 64u);
  EXPECT_EQ(b->sig[0], 0x30) << "0x02 signatures are DER";
  auto raw = ecdsa_raw_from_der(b->sig);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(*ecdsa_der_from_raw(*raw), b->sig);

  auto msg = format_note({text, {*a, *b}});
  ASSERT_TRUE(msg.ok());
  auto n = parse_note(*msg);
  ASSERT_TRUE(n.ok());
  auto v = verify_note(*n, std::vector<NoteKey>{ec_, ed_});
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(names(*v), (std::vector<std::string>{"log.example/ed", "log.example/ec"}));
  auto only_ec = verify_note(*n, std::vector<NoteKey>{ec_});
  ASSERT_TRUE(only_ec.ok());
  EXPECT_EQ(names(*only_ec), std::vector<std::string>{"log.example/ec"});

  // A DER signature with a byte appended is not the signature.
  SignedNote trailing = *n;
  trailing.sigs[1].sig.push_back(0);
  EXPECT_EQ(reason(verify_note(trailing, std::vector<NoteKey>{ec_})), "note_bad_signature");
}

TEST_F(NoteSigning, UnknownSignersAreIgnoredKnownOnesMustVerify) {
  const std::string text = "hello\n";
  NoteSignature a = *sign_note(text, ed_, hsm_signer("01", Algorithm::kEdDSA));
  NoteSignature b = *sign_note(text, ec_, hsm_signer("02", Algorithm::kES256));
  // Same name as a known key, other id; same id, other name: both unknown, both ignored.
  NoteSignature same_name = a, same_id = a;
  same_name.key_id ^= 1;
  same_name.sig[0] ^= 1;
  same_id.name = "impostor";
  same_id.sig[0] ^= 1;
  auto v = verify_note({text, {same_name, same_id, a}}, std::vector<NoteKey>{ed_});
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->size(), 1u);
  EXPECT_EQ(reason(verify_note({text, {same_name, same_id}}, std::vector<NoteKey>{ed_})), "note_unverified");
  // A repeated line counts once; a repeated line that does not verify fails the note.
  auto twice = verify_note({text, {a, a, b}}, std::vector<NoteKey>{ed_, ec_});
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->size(), 2u);
  NoteSignature bad = a;
  bad.sig[5] ^= 0x20;
  EXPECT_EQ(reason(verify_note({text, {a, bad}}, std::vector<NoteKey>{ed_})), "note_bad_signature");
  EXPECT_EQ(reason(verify_note({text, {b, bad}}, std::vector<NoteKey>{ed_, ec_})), "note_bad_signature");
  // A signature of the wrong length from a known key is a bad signature, not a crash.
  NoteSignature short_sig = a;
  short_sig.sig.resize(1);
  EXPECT_EQ(reason(verify_note({text, {short_sig}}, std::vector<NoteKey>{ed_})), "note_bad_signature");
  // Two known keys with one (name, key id) but different keys: refused, not guessed.
  NoteKey twin = ed_;
  twin.key = ec_.key;
  EXPECT_EQ(reason(verify_note({text, {a}}, std::vector<NoteKey>{ed_, twin})), "note_ambiguous_key");
  EXPECT_TRUE(verify_note({text, {a}}, std::vector<NoteKey>{ed_, ed_}).ok()) << "the same key twice is fine";
}

TEST_F(NoteSigning, SignRefusesBadTextWrongKeysAndBadSigners) {
  EXPECT_EQ(reason(sign_note("no newline", ed_, hsm_signer("01", Algorithm::kEdDSA))), "note_malformed");
  EXPECT_EQ(reason(sign_note("a\tb\n", ed_, hsm_signer("01", Algorithm::kEdDSA))), "note_malformed");
  EXPECT_EQ(reason(sign_note("t\n", wit_, witness_.signer())), "note_wrong_key_type");
  // The HSM's own error passes through unchanged.
  hsm_.fail_next_sign(1);
  EXPECT_EQ(reason(sign_note("t\n", ed_, hsm_signer("01", Algorithm::kEdDSA))), "hsm_unavailable");
  // A signer that signs with another key, or returns the wrong form, never yields a signature.
  EXPECT_EQ(reason(sign_note("t\n", ed_, witness_.signer())), "note_sign_failed");
  EXPECT_EQ(reason(sign_note("t\n", ec_, hsm_signer("01", Algorithm::kEdDSA))), "note_sign_failed");
  EXPECT_EQ(reason(sign_note("t\n", ed_, [](std::string_view) -> Result<Bytes> { return Bytes(63, 1); })), "note_sign_failed");
  EXPECT_EQ(reason(sign_note("t\n", ec_, [](std::string_view) -> Result<Bytes> { return Bytes(64, 0); })), "note_sign_failed");
}

// ---- ECDSA encodings ----

Bytes ecdsa_der(const Bytes& r, const Bytes& s) {
  Bytes out{0x30, static_cast<uint8_t>(4 + r.size() + s.size()), 0x02, static_cast<uint8_t>(r.size())};
  out.insert(out.end(), r.begin(), r.end());
  out.push_back(0x02);
  out.push_back(static_cast<uint8_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

TEST(NoteEcdsa, DerConversionRoundTripsAndIsStrict) {
  Bytes raw(64);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 7 + 1);
  raw[0] = 0x80;  // r needs a 0x00 sign byte in DER
  raw[32] = 0x00; // s is shorter than 32 bytes
  raw[33] = 0x00;
  raw[34] = 0x05;
  auto der = ecdsa_der_from_raw(raw);
  ASSERT_TRUE(der.ok()) << der.status().to_string();
  EXPECT_EQ((*der)[3], 33) << "r with its sign byte";
  EXPECT_EQ((*der)[4 + 33 + 1], 30) << "s minimal";
  auto back = ecdsa_raw_from_der(*der);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, raw);

  Bytes trailing = *der;
  trailing.push_back(0x00);
  EXPECT_FALSE(ecdsa_raw_from_der(trailing).ok()) << "bytes after the SEQUENCE";
  const Bytes one{0x01};
  EXPECT_TRUE(ecdsa_raw_from_der(ecdsa_der(one, one)).ok());
  EXPECT_FALSE(ecdsa_raw_from_der(ecdsa_der(Bytes{0x00, 0x01}, one)).ok()) << "non-minimal INTEGER";
  EXPECT_FALSE(ecdsa_raw_from_der(ecdsa_der(Bytes{0x81}, one)).ok()) << "negative r";
  EXPECT_FALSE(ecdsa_raw_from_der(ecdsa_der(Bytes{0x00}, one)).ok()) << "zero r";
  EXPECT_FALSE(ecdsa_raw_from_der(ecdsa_der(one, Bytes(34, 0x01))).ok()) << "s longer than 32 bytes";
  Bytes long_form = ecdsa_der(one, one);
  long_form.insert(long_form.begin() + 1, 0x81);  // 30 81 06 ...: BER long-form length
  EXPECT_FALSE(ecdsa_raw_from_der(long_form).ok()) << "long-form length";
  EXPECT_FALSE(ecdsa_raw_from_der(Bytes{}).ok());
  EXPECT_FALSE(ecdsa_raw_from_der(Bytes(73, 0x30)).ok());
  EXPECT_FALSE(ecdsa_der_from_raw(Bytes(64, 0)).ok()) << "r = s = 0";
  EXPECT_FALSE(ecdsa_der_from_raw(Bytes(64, 0xff)).ok()) << "r, s >= n";
  EXPECT_FALSE(ecdsa_der_from_raw(Bytes(63, 1)).ok());
}

// ---- cosignature/v1 ----

TEST_F(NoteSigning, CosignatureV1) {
  const std::string cp = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  // tlog-cosignature §Ed25519 signed message, byte for byte.
  EXPECT_EQ(cosignature_message(1679315147, cp),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
  auto c = cosign(cp, wit_, 1679315147, witness_.signer());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  ASSERT_EQ(c->sig.size(), 72u);
  EXPECT_EQ(Bytes(c->sig.begin(), c->sig.begin() + 8), (Bytes{0, 0, 0, 0, 0x64, 0x18, 0x50, 0xcb}));
  uint64_t ts = 0;
  ASSERT_TRUE(verify_cosignature(wit_, cp, *c, &ts).ok());
  EXPECT_EQ(ts, 1679315147u);
  EXPECT_EQ(*cosignature_timestamp(*c), 1679315147u);
  // Through verify_note too, beside the log's own signature.
  NoteSignature log = *sign_note(cp, ed_, hsm_signer("01", Algorithm::kEdDSA));
  auto v = verify_note({cp, {log, *c}}, std::vector<NoteKey>{ed_, wit_});
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->size(), 2u);

  NoteSignature moved = *c;
  moved.sig[7] ^= 1;  // another time
  EXPECT_EQ(reason(verify_cosignature(wit_, cp, moved, &ts)), "note_bad_signature");
  EXPECT_EQ(reason(verify_note({cp, {moved}}, std::vector<NoteKey>{wit_})), "note_bad_signature");
  EXPECT_EQ(reason(verify_cosignature(wit_, cp + "extension\n", *c, &ts)), "note_bad_signature")
      << "extension lines are signed";
  // A plain Ed25519 signature by the same key is not a cosignature, and vice versa.
  auto plain = make_note_key(wit_.name, SigType::kEd25519, wit_.key);
  ASSERT_TRUE(plain.ok());
  NoteSignature ed_sig = *sign_note(cp, *plain, witness_.signer());
  EXPECT_NE(ed_sig.key_id, wit_.key_id);
  EXPECT_EQ(reason(verify_note({cp, {ed_sig}}, std::vector<NoteKey>{wit_})), "note_unverified");
  ed_sig.key_id = wit_.key_id;
  EXPECT_EQ(reason(verify_note({cp, {ed_sig}}, std::vector<NoteKey>{wit_})), "note_bad_signature");
  EXPECT_EQ(reason(verify_cosignature(*plain, cp, *c, &ts)), "note_wrong_key_type");
  EXPECT_EQ(reason(verify_cosignature(wit_, cp, log, &ts)), "note_malformed");
  EXPECT_EQ(reason(cosign(cp, ed_, 1, witness_.signer())), "note_wrong_key_type");
  // Timestamps above 2^63-1 are neither made nor accepted.
  EXPECT_EQ(reason(cosign(cp, wit_, uint64_t{1} << 63, witness_.signer())), "note_malformed");
  Bytes big_ts{0x80, 0, 0, 0, 0, 0, 0, 0};
  auto sig = witness_.sign(cosignature_message(uint64_t{1} << 63, cp));
  ASSERT_TRUE(sig.ok());
  big_ts.insert(big_ts.end(), sig->begin(), sig->end());
  EXPECT_EQ(reason(verify_cosignature(wit_, cp, {wit_.name, wit_.key_id, big_ts}, &ts)), "note_bad_signature");
}

// ---- x/mod as an independent checker ----

std::string hex(std::string_view s) { return hex_encode(to_bytes(s)); }

TEST_F(NoteSigning, GoNotePackageAgrees) {
  if (std::string why = testing::go_missing("sumdb/note/note.go"); !why.empty()) FAIL() << why;
  std::string tool, log;
  ASSERT_TRUE(testing::build_go_checker("note_check", KEYMGR_TEST_SOURCE_DIR, KEYMGR_TEST_BINARY_DIR, &tool, &log))
      << "go build of tests/interop/note_check.go failed:\n" << log;

  Ed25519TestKey openssl_key;
  ASSERT_TRUE(openssl_key.ok());
  const NoteKey ossl = *make_note_key("keymgr.example/openssl", SigType::kEd25519, openssl_key.public_key());
  const std::vector<std::string> texts = {
      "keymgr.example/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
      "keymgr.example/log\n12345\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n",
      "multi\n\nparagraph \xE2\x80\x94 text \xC3\xA9\n",
  };
  std::vector<std::string> req, expect;
  for (const std::string& t : texts) {
    NoteSignature s1 = *sign_note(t, ossl, openssl_key.signer());
    NoteSignature s2 = *sign_note(t, ed_, hsm_signer("01", Algorithm::kEdDSA));
    NoteSignature s3 = *sign_note(t, ec_, hsm_signer("02", Algorithm::kES256));
    NoteSignature s4 = *cosign(t, wit_, 1767225600, witness_.signer());
    const std::string msg = *format_note({t, {s1, s2, s3, s4}});
    req.push_back("open " + hex(msg) + " " + verifier_key_string(ossl));
    expect.push_back("ok keymgr.example/openssl");
    req.push_back("open " + hex(msg) + " " + verifier_key_string(ossl) + " " + verifier_key_string(ed_) + " " +
                  verifier_key_string(ec_) + " " + verifier_key_string(wit_));
    expect.push_back("ok keymgr.example/openssl log.example/ed log.example/ec witness.example/w1");
    // Not a rubber stamp: a flipped bit, a key that did not sign.
    NoteSignature bad = s3;
    bad.sig[bad.sig.size() - 3] ^= 1;
    req.push_back("open " + hex(*format_note({t, {s1, bad}})) + " " + verifier_key_string(ec_));
    expect.push_back("fail");
    req.push_back("open " + hex(*format_note({t, {s1}})) + " " + verifier_key_string(ed_));
    expect.push_back("fail");
    // x/mod signs, keymgr verifies; Go's Ed25519 cosigner (written from the spec) too.
    req.push_back("sign go.example/k" + std::to_string(req.size()) + " " + hex(t));
    expect.push_back("ok");
    req.push_back("cosign go.example/w" + std::to_string(req.size()) + " " + hex(t) + " 1767225601");
    expect.push_back("ok");
  }
  int rc = 0;
  auto out = testing::ask_go_checker(tool, req, &rc);
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(out.size(), req.size());
  for (size_t i = 0; i < req.size(); ++i) {
    const std::string verdict = out[i].substr(0, out[i].find(expect[i] == "ok" ? ' ' : ':'));
    if (expect[i].starts_with("ok ")) {
      EXPECT_EQ(out[i], expect[i]) << req[i].substr(0, 80);
      continue;
    }
    ASSERT_EQ(verdict, expect[i]) << req[i].substr(0, 80) << "\n  go: " << out[i];
    if (req[i].starts_with("sign ") || req[i].starts_with("cosign ")) {
      // "ok VKEY NOTE": keymgr must accept x/mod's key and note, and format it byte for byte.
      const std::string rest = out[i].substr(3);
      const std::string vk = rest.substr(0, rest.find(' '));
      const std::string msg = to_string(*hex_decode(rest.substr(rest.find(' ') + 1)));
      auto k = parse_verifier_key(vk);
      ASSERT_TRUE(k.ok()) << vk << ": " << k.status().to_string();
      auto n = parse_note(msg);
      ASSERT_TRUE(n.ok()) << n.status().to_string();
      EXPECT_EQ(str(format_note(*n)), msg);
      EXPECT_EQ(verifier_key_string(*k), vk);
      auto v = verify_note(*n, std::vector<NoteKey>{*k});
      EXPECT_TRUE(v.ok()) << v.status().to_string();
      if (k->type == SigType::kCosignatureV1) {
        uint64_t ts = 0;
        EXPECT_TRUE(verify_cosignature(*k, n->text, n->sigs.at(0), &ts).ok());
        EXPECT_EQ(ts, 1767225601u);
      }
      n->sigs[0].sig[0] ^= 1;
      EXPECT_EQ(reason(verify_note(*n, std::vector<NoteKey>{*k})), "note_bad_signature");
    }
  }
}

}  // namespace
}  // namespace keymgr::note
