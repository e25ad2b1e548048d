// Transparency-log text formats (keymgr/tlog_text.h): checkpoints against C2SP tlog-checkpoint and
// a real sum.golang.org checkpoint, tlog-proof inclusion files and tlog-witness consistency bodies
// (formats, strict parsing, verification end to end over a db::merkle tree), and Go's
// golang.org/x/mod/sumdb/tlog.ParseTree as an independent parser of the checkpoint text.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/encoding.h"
#include "db/merkle.h"
#include "keymgr/signed_note.h"
#include "keymgr/tlog_text.h"
#include "tests/keymgr/note_test_keys.h"
#include "tests/support/go_checker.h"

namespace keymgr::tlog {
namespace {

namespace merkle = db::merkle;
using note::NoteKey;
using note::SigType;
using note::SignedNote;
using testing::Ed25519TestKey;

template <typename T>
std::string reason(const Result<T>& r) {
  return r.ok() ? "ok" : std::string(r.status().reason());
}
std::string str(const Result<std::string>& r) { return r.ok() ? *r : "<" + r.status().to_string() + ">"; }

merkle::Hash hash_of(std::string_view b64) {
  auto b = base64_decode(b64);
  merkle::Hash h{};
  if (b && b->size() == 32) std::copy(b->begin(), b->end(), h.begin());
  return h;
}

// ---- checkpoints ----

TEST(Checkpoint, SpecExampleRoundTrips) {
  const std::string text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  auto cp = parse_checkpoint(text);
  ASSERT_TRUE(cp.ok()) << cp.status().to_string();
  EXPECT_EQ(cp->origin, "example.com/behind-the-sofa");
  EXPECT_EQ(cp->size, 20852163u);
  EXPECT_EQ(cp->root, hash_of("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="));
  EXPECT_TRUE(cp->extensions.empty());
  EXPECT_EQ(str(format_checkpoint(*cp)), text);

  Checkpoint ext{"rekor.sigstore.dev - 2605736670972794746", 0, merkle::empty_tree_hash(), {"Timestamp: 1", "x"}};
  auto t = format_checkpoint(ext);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "rekor.sigstore.dev - 2605736670972794746\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nTimestamp: 1\nx\n");
  auto back = parse_checkpoint(*t);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, ext);
  Checkpoint max{"o", UINT64_MAX, {}, {}};
  EXPECT_EQ(*parse_checkpoint(*format_checkpoint(max)), max);
}

TEST(Checkpoint, MalformedTextsAreRefused) {
  const std::string root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
  const std::pair<std::string, std::string> bad[] = {
      {"", "empty"},
      {"o\n1\n" + root, "no final newline"},
      {"o\n1\n", "no root"},
      {"o\n", "no size"},
      {"\n1\n" + root + "\n", "empty origin"},
      {"o\n01\n" + root + "\n", "leading zero"},
      {"o\n00\n" + root + "\n", "double zero"},
      {"o\n-1\n" + root + "\n", "negative"},
      {"o\n+1\n" + root + "\n", "plus sign"},
      {"o\n 1\n" + root + "\n", "space"},
      {"o\n1 \n" + root + "\n", "trailing space"},
      {"o\n\n" + root + "\n", "empty size"},
      {"o\n18446744073709551616\n" + root + "\n", "2^64"},
      {"o\n99999999999999999999\n" + root + "\n", "20 nines"},
      {"o\n0x10\n" + root + "\n", "hex"},
      {"o\n1\n" + root.substr(0, 43) + "\n", "short root"},
      {"o\n1\n" + root + "AAAA\n", "long root"},
      {"o\n1\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n", "base64url root"},
      {"o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n", "non-canonical root"},
      {"o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n", "root without padding"},
      {"o\n1\n" + root + "\n\n", "empty extension line"},
      {"o\n1\n" + root + "\next\n\n", "empty extension line at the end"},
      {"o\r\n1\n" + root + "\n", "carriage return"},
      {"o\xFF\n1\n" + root + "\n", "not UTF-8"},
  };
  for (const auto& [text, what] : bad) EXPECT_EQ(reason(parse_checkpoint(text)), "checkpoint_malformed") << what;
  EXPECT_EQ(reason(format_checkpoint({"", 1, {}, {}})), "checkpoint_malformed");
  EXPECT_EQ(reason(format_checkpoint({"a\nb", 1, {}, {}})), "checkpoint_malformed");
  EXPECT_EQ(reason(format_checkpoint({"o", 1, {}, {""}})), "checkpoint_malformed");
  EXPECT_EQ(reason(format_checkpoint({"o", 1, {}, {"a\tb"}})), "checkpoint_malformed");
}

// A checkpoint of the Go checksum database, signed by its published key (sum.golang.org).
TEST(Checkpoint, RealSumGolangOrgCheckpointVerifies) {
  const std::string msg =
      "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n"
      "— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";
  auto key = note::parse_verifier_key("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8");
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  auto n = note::parse_note(msg);
  ASSERT_TRUE(n.ok());
  TrustPolicy policy{"go.sum database tree", {*key}, {}, 0};
  auto v = verify_checkpoint(*n, policy);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->checkpoint.size, 6476701u);
  EXPECT_EQ(v->log_signers.size(), 1u);
  policy.origin = "sum.golang.org";
  EXPECT_EQ(reason(verify_checkpoint(*n, policy)), "checkpoint_wrong_origin");
}

// ---- a small log, as keymgr will run it ----

class VectorReader : public merkle::HashReader {
 public:
  Result<std::vector<merkle::Hash>> read_hashes(std::span<const uint64_t> indexes) const override {
    std::vector<merkle::Hash> out;
    for (uint64_t i : indexes) {
      if (i >= stored.size()) return NotFound("hash " + std::to_string(i));
      out.push_back(stored[i]);
    }
    return out;
  }
  void append(const std::string& data) {
    merkle::Hash l = merkle::leaf_hash(data);
    auto more = merkle::stored_hashes_for_leaves(leaves.size(), std::span<const merkle::Hash>(&l, 1), *this);
    stored.insert(stored.end(), more->begin(), more->end());
    leaves.push_back(data);
  }
  std::vector<merkle::Hash> stored;
  std::vector<std::string> leaves;
};

class TlogProofs : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(log_key_.ok() && w1_key_.ok() && w2_key_.ok());
    log_ = *note::make_note_key(kOrigin, SigType::kEd25519, log_key_.public_key());
    w1_ = *note::make_note_key("witness.example/w1", SigType::kCosignatureV1, w1_key_.public_key());
    w2_ = *note::make_note_key("witness.example/w2", SigType::kCosignatureV1, w2_key_.public_key());
    for (int i = 0; i < 13; ++i) tree_.append("ledger entry " + std::to_string(i) + std::string(i, '\x01'));
    policy_ = {kOrigin, {log_}, {w1_, w2_}, 1};
  }

  // The signed checkpoint of the first n leaves, cosigned by w1 (and w2 if asked).
  SignedNote checkpoint(uint64_t n, bool both_witnesses = false) {
    Checkpoint cp{kOrigin, n, *merkle::tree_hash(n, tree_), {}};
    const std::string text = *format_checkpoint(cp);
    SignedNote sn{text, {*note::sign_note(text, log_, log_key_.signer())}};
    sn.sigs.push_back(*note::cosign(text, w1_, 1767225600 + n, w1_key_.signer()));
    if (both_witnesses) sn.sigs.push_back(*note::cosign(text, w2_, 1767225700 + n, w2_key_.signer()));
    return sn;
  }
  InclusionProofFile inclusion(uint64_t index, uint64_t n) {
    const std::string& d = tree_.leaves[index];
    return {Bytes(d.begin(), d.end()), index, *merkle::inclusion_proof(index, n, tree_), checkpoint(n)};
  }

  static constexpr const char* kOrigin = "keymgr.example/ledger";
  Ed25519TestKey log_key_, w1_key_, w2_key_;
  NoteKey log_, w1_, w2_;
  VectorReader tree_;
  TrustPolicy policy_;
};

TEST_F(TlogProofs, InclusionProofFilesRoundTripAndVerify) {
  for (uint64_t n : {1u, 2u, 5u, 8u, 13u}) {
    for (uint64_t i = 0; i < n; ++i) {
      InclusionProofFile p = inclusion(i, n);
      auto text = format_inclusion_proof(p);
      ASSERT_TRUE(text.ok()) << text.status().to_string();
      auto back = parse_inclusion_proof(*text);
      ASSERT_TRUE(back.ok()) << back.status().to_string() << "\n" << *text;
      EXPECT_EQ(*back, p);
      EXPECT_EQ(str(format_inclusion_proof(*back)), *text);
      auto v = verify_inclusion_proof(*back, policy_);
      ASSERT_TRUE(v.ok()) << i << " of " << n << ": " << v.status().to_string();
      EXPECT_EQ(v->index, i);
      EXPECT_EQ(v->leaf_hash, merkle::leaf_hash(tree_.leaves[i]));
      EXPECT_EQ(v->checkpoint.checkpoint.size, n);
      ASSERT_EQ(v->checkpoint.cosigners.size(), 1u);
      EXPECT_EQ(v->checkpoint.cosigners[0].timestamp, 1767225600 + n);
      // The leaf as the caller knows it, instead of the extra line.
      EXPECT_TRUE(verify_inclusion_proof(*back, policy_, tree_.leaves[i]).ok());
      EXPECT_EQ(reason(verify_inclusion_proof(*back, policy_, std::string_view("other"))), "merkle_proof_mismatch");
    }
  }
}

TEST_F(TlogProofs, TheFileLooksLikeTheSpecExample) {
  InclusionProofFile p = inclusion(3, 5);
  p.extra = to_bytes("entry");
  const std::string text = *format_inclusion_proof(p);
  std::string want = "c2sp.org/tlog-proof@v1\nextra ZW50cnk=\nindex 3\n";
  for (const auto& h : p.proof) want += base64_encode(h.data(), h.size()) + "\n";
  want += "\n" + p.checkpoint.text + "\n";
  EXPECT_EQ(text.substr(0, want.size()), want);
  EXPECT_TRUE(text.substr(want.size()).starts_with("— keymgr.example/ledger "));
  // Without extra data the line is omitted.
  p.extra.reset();
  EXPECT_TRUE(format_inclusion_proof(p)->starts_with("c2sp.org/tlog-proof@v1\nindex 3\n"));
  EXPECT_EQ(reason(verify_inclusion_proof(*parse_inclusion_proof(*format_inclusion_proof(p)), policy_)), "proof_malformed");
  p.extra = Bytes{};
  EXPECT_EQ(reason(format_inclusion_proof(p)), "proof_malformed");
}

TEST_F(TlogProofs, VerificationFailsClosed) {
  InclusionProofFile good = inclusion(6, 13);
  ASSERT_TRUE(verify_inclusion_proof(good, policy_).ok());
  auto expect = [&](InclusionProofFile p, TrustPolicy pol, const std::string& want, const char* what) {
    EXPECT_EQ(reason(verify_inclusion_proof(p, pol)), want) << what;
  };
  InclusionProofFile p = good;
  p.proof[1][0] ^= 1;
  expect(p, policy_, "merkle_proof_mismatch", "a proof hash flipped");
  p = good;
  p.index = 7;
  expect(p, policy_, "merkle_proof_mismatch", "another index");
  p = good;
  p.proof.pop_back();
  expect(p, policy_, "merkle_bad_argument", "a proof hash short");
  p = good;
  p.index = 13;
  expect(p, policy_, "merkle_bad_argument", "index beyond the tree");
  p = good;
  (*p.extra)[0] ^= 1;
  expect(p, policy_, "merkle_proof_mismatch", "other leaf data");
  p = good;
  p.checkpoint.sigs[0].sig[3] ^= 1;
  expect(p, policy_, "note_bad_signature", "log signature flipped");
  p = good;
  p.checkpoint.sigs[1].sig[20] ^= 1;
  expect(p, policy_, "note_bad_signature", "a known witness's cosignature flipped");
  p = good;
  p.checkpoint.sigs.erase(p.checkpoint.sigs.begin());
  expect(p, policy_, "note_unverified", "only a witness signed");
  p = good;
  p.checkpoint.sigs.pop_back();
  expect(p, policy_, "witness_quorum", "no witness cosigned");
  TrustPolicy two = policy_;
  two.witness_quorum = 2;
  expect(good, two, "witness_quorum", "one of two witnesses");
  InclusionProofFile both = good;
  both.checkpoint = checkpoint(13, true);
  auto v = verify_inclusion_proof(both, two);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->checkpoint.cosigners.size(), 2u);
  TrustPolicy other = policy_;
  other.origin = "keymgr.example/other";
  expect(good, other, "checkpoint_wrong_origin", "another log's checkpoint");
  TrustPolicy unknown_log = policy_;
  unknown_log.log_keys = {w2_};
  expect(good, unknown_log, "note_unverified", "the log's own key is not trusted (only a witness cosigned)");
  // Policies that cannot be met are refused as such.
  for (TrustPolicy bad : {TrustPolicy{"", {log_}, {}, 0}, TrustPolicy{kOrigin, {}, {}, 0},
                          TrustPolicy{kOrigin, {log_}, {w1_}, 2}, TrustPolicy{kOrigin, {log_}, {log_}, 0}}) {
    expect(good, bad, "tlog_policy_invalid", "bad policy");
  }
}

TEST_F(TlogProofs, MalformedProofFilesAreRefused) {
  const std::string text = *format_inclusion_proof(inclusion(6, 13));
  const size_t idx = text.find("index ");
  const size_t blank = text.find("\n\n");
  auto with = [&](size_t pos, size_t len, const std::string& repl) {
    std::string t = text;
    t.replace(pos, len, repl);
    return t;
  };
  const std::pair<std::string, std::string> bad[] = {
      {"", "empty"},
      {with(0, 22, "c2sp.org/tlog-proof@v2"), "another version"},
      {with(0, 23, ""), "no header"},
      {with(idx, 7, "index 06"), "leading zero"},
      {with(idx, 7, "index -6"), "negative"},
      {with(idx, 7, "index  6"), "two spaces"},
      {with(idx, 7, "Index 6"), "capital"},
      {with(idx, 8, ""), "no index line"},
      {with(23, 6, "extra"), "extra without space"},
      {with(23, 6, "extra ="), "extra not base64"},
      {with(blank, 2, "\n"), "no blank line before the checkpoint"},
      {with(blank, 1, "\nAAAA"), "short proof hash"},
      {with(blank, 1, "\n" + std::string(44, '/')), "non-canonical proof hash"},
      {with(blank + 1, 1, "\n \n"), "space line"},
      {text.substr(0, blank + 2), "no checkpoint"},
      {text.substr(0, text.size() - 1), "checkpoint note without final newline"},
      {with(blank + 2, text.find('\n', blank + 2) - blank - 2, ""), "checkpoint without origin"},
  };
  for (const auto& [t, what] : bad) {
    auto r = parse_inclusion_proof(t);
    EXPECT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << what << ": " << r.status().to_string();
  }
  EXPECT_EQ(reason(parse_inclusion_proof(with(0, 23, ""))), "proof_malformed");
  std::string many = "c2sp.org/tlog-proof@v1\nindex 0\n";
  for (int i = 0; i < 64; ++i) many += "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
  EXPECT_EQ(reason(parse_inclusion_proof(many + text.substr(blank + 1))), "proof_malformed") << "64 hashes";
  EXPECT_EQ(reason(parse_inclusion_proof(std::string(kMaxProofFileSize + 1, 'a'))), "proof_too_large");
  EXPECT_EQ(reason(parse_inclusion_proof(with(blank + 2, 0, "x\n"))), "checkpoint_malformed");
}

TEST_F(TlogProofs, ConsistencyProofsAreTheWitnessRequestBody) {
  auto v13 = verify_checkpoint(checkpoint(13), policy_);
  ASSERT_TRUE(v13.ok());
  for (uint64_t m : {0u, 1u, 4u, 7u, 13u}) {
    SCOPED_TRACE(m);
    Checkpoint old{kOrigin, m, *merkle::tree_hash(m, tree_), {}};
    ConsistencyProofFile p{m, *merkle::consistency_proof(m, 13, tree_), checkpoint(13)};
    auto text = format_consistency_proof(p);
    ASSERT_TRUE(text.ok());
    EXPECT_TRUE(text->starts_with("old " + std::to_string(m) + "\n"));
    auto back = parse_consistency_proof(*text);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(*back, p);
    auto v = verify_consistency_proof(*back, old, policy_);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    EXPECT_EQ(v->checkpoint, v13->checkpoint);
    if (m > 0 && m < 13) {
      ConsistencyProofFile bad = p;
      bad.proof[0][5] ^= 1;
      EXPECT_EQ(reason(verify_consistency_proof(bad, old, policy_)), "merkle_proof_mismatch");
      Checkpoint forked = old;
      forked.root[0] ^= 1;
      EXPECT_EQ(reason(verify_consistency_proof(p, forked, policy_)), "merkle_proof_mismatch");
      Checkpoint other_size = old;
      other_size.size = m + 1;
      EXPECT_EQ(reason(verify_consistency_proof(p, other_size, policy_)), "proof_malformed");
    }
  }
  // The tlog-witness example body parses (its signature is not ours: the note has one line).
  const std::string example =
      "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
      "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\n"
      "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
      "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
      "— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";
  auto ex = parse_consistency_proof(example);
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  EXPECT_EQ(ex->old_size, 20852014u);
  EXPECT_EQ(ex->proof.size(), 4u);
  EXPECT_EQ(ex->checkpoint.sigs.size(), 2u);
  EXPECT_EQ(str(format_consistency_proof(*ex)), example);
  EXPECT_EQ(reason(parse_consistency_proof("old 01\n\n" + example.substr(example.find("example.com")))), "proof_malformed");
  EXPECT_EQ(reason(parse_consistency_proof("new 1\n\n" + example.substr(example.find("example.com")))), "proof_malformed");
}

TEST_F(TlogProofs, EmptyTreeCheckpointMustCarryTheEmptyHash) {
  const std::string text = *format_checkpoint({kOrigin, 0, merkle::Hash{}, {}});
  SignedNote sn{text, {*note::sign_note(text, log_, log_key_.signer())}};
  EXPECT_EQ(reason(verify_checkpoint(sn, {kOrigin, {log_}, {}, 0})), "checkpoint_malformed");
}

// ---- Go's tlog.ParseTree as an independent parser ----

TEST(CheckpointInterop, GoParseTreeReadsOurCheckpoints) {
  if (std::string why = testing::go_missing("sumdb/tlog/note.go"); !why.empty()) FAIL() << why;
  std::string tool, log;
  ASSERT_TRUE(testing::build_go_checker("note_check", KEYMGR_TEST_SOURCE_DIR, KEYMGR_TEST_BINARY_DIR, &tool, &log))
      << "go build of tests/interop/note_check.go failed:\n" << log;
  std::vector<std::string> req, expect;
  for (uint64_t n : {0ull, 1ull, 2ull, 1234567890123ull, 9223372036854775807ull}) {
    merkle::Hash root{};
    for (size_t i = 0; i < root.size(); ++i) root[i] = static_cast<uint8_t>(n * 31 + i * 7);
    // The Go checksum database's tree note is a checkpoint with this origin and no extensions.
    const std::string text = *format_checkpoint({"go.sum database tree", n, root, {}});
    req.push_back("tree " + hex_encode(to_bytes(text)) + " " + std::to_string(n) + " " + merkle::hash_hex(root));
    expect.push_back("ok");
  }
  // Not a rubber stamp: another size than claimed.
  req.push_back("tree " + hex_encode(to_bytes(*format_checkpoint({"go.sum database tree", 5, {}, {}}))) + " 6 " +
                merkle::hash_hex({}));
  expect.push_back("fail");
  int rc = 0;
  auto out = testing::ask_go_checker(tool, req, &rc);
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(out.size(), req.size());
  for (size_t i = 0; i < req.size(); ++i) EXPECT_EQ(out[i].substr(0, out[i].find(':')), expect[i]) << req[i] << "\n" << out[i];
}

}  // namespace
}  // namespace keymgr::tlog
