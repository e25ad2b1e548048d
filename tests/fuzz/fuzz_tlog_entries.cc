// Fuzz entries of the transparency-log formats (keymgr/signed_note.h, keymgr/tlog_text.h). Kept
// apart from fuzz_entries.cc so that fuzz_note, fuzz_checkpoint and fuzz_tlogproof link km_tlog
// alone, not the whole application.
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keymgr/signed_note.h"
#include "keymgr/tlog_text.h"
#include "tests/fuzz/fuzz_entries.h"

namespace keymgr::fuzz {
namespace {

// Keys whose private halves the fuzzer does not have beyond the texts below (x/mod's PeterNeumann
// signed the seeds; C2SP's example.com/foo its example), plus an ECDSA and a cosignature key with
// no known signatures at all.
struct Known {
  std::vector<note::NoteKey> keys;
  std::vector<std::string> signed_texts;
};

const Known& known() {
  static const Known* k = [] {
    auto* out = new Known;
    for (const char* v : {"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                          "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                          "rekor.sigstore.dev+c0d23d6a+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+"
                          "smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc=",
                          "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"}) {
      auto key = note::parse_verifier_key(v);
      KM_FUZZ_CHECK(key.ok(), "fixed verifier key parses");
      out->keys.push_back(*key);
    }
    out->signed_texts = {
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n",
        "This is an example message.\n",
    };
    // make_tlog_seeds.py: the checkpoint of its 7-leaf tree ("ledger entry 0".."ledger entry 6").
    std::vector<db::merkle::Hash> level;
    for (int i = 0; i < 7; ++i) level.push_back(db::merkle::leaf_hash("ledger entry " + std::to_string(i)));
    const auto mth = [](auto&& self, std::span<const db::merkle::Hash> l) -> db::merkle::Hash {
      if (l.size() == 1) return l[0];
      size_t k = 1;
      while (k * 2 < l.size()) k *= 2;
      return db::merkle::node_hash(self(self, l.subspan(0, k)), self(self, l.subspan(k)));
    };
    auto cp = tlog::format_checkpoint({"keymgr.example/ledger", 7, mth(mth, level), {}});
    KM_FUZZ_CHECK(cp.ok(), "seed checkpoint formats");
    out->signed_texts.push_back(*cp);
    return out;
  }();
  return *k;
}

// A verified note's text must be one the key holders actually signed.
bool genuinely_signed(const std::string& text) {
  for (const std::string& t : known().signed_texts) {
    if (text == t) return true;
  }
  return false;
}

}  // namespace

int fuzz_note(const uint8_t* data, size_t size) {
  const std::string_view in = as_view(data, size);
  auto n = note::parse_note(in);
  if (n.ok()) {
    auto again = note::format_note(*n);
    KM_FUZZ_CHECK(again.ok(), "a parsed note formats");
    KM_FUZZ_CHECK(*again == in, "format_note(parse_note(x)) == x");
    auto v = note::verify_note(*n, known().keys);
    KM_FUZZ_CHECK(!v.ok() || genuinely_signed(n->text), "only genuinely signed texts verify");
    KM_FUZZ_CHECK(v.ok() || !v.status().reason().empty(), "errors carry a reason");
  }
  auto sigs = note::parse_signature_lines(in);
  if (sigs.ok()) {
    std::string lines;
    for (const auto& s : *sigs) lines += note::format_signature_line(s);
    KM_FUZZ_CHECK(lines == in, "signature lines round-trip");
  }
  auto key = note::parse_verifier_key(in);
  if (key.ok()) KM_FUZZ_CHECK(note::verifier_key_string(*key) == in, "verifier keys round-trip");
  return 0;
}

int fuzz_checkpoint(const uint8_t* data, size_t size) {
  const std::string_view in = as_view(data, size);
  auto cp = tlog::parse_checkpoint(in);
  if (cp.ok()) {
    auto again = tlog::format_checkpoint(*cp);
    KM_FUZZ_CHECK(again.ok(), "a parsed checkpoint formats");
    KM_FUZZ_CHECK(*again == in, "format_checkpoint(parse_checkpoint(x)) == x");
  }
  return 0;
}

int fuzz_tlogproof(const uint8_t* data, size_t size) {
  const std::string_view in = as_view(data, size);
  tlog::TrustPolicy policy{"keymgr.example/ledger", {known().keys[0]}, {}, 0};
  auto p = tlog::parse_inclusion_proof(in);
  if (p.ok()) {
    auto again = tlog::format_inclusion_proof(*p);
    KM_FUZZ_CHECK(again.ok(), "a parsed inclusion proof formats");
    KM_FUZZ_CHECK(*again == in, "format_inclusion_proof(parse_inclusion_proof(x)) == x");
    auto v = tlog::verify_inclusion_proof(*p, policy);
    KM_FUZZ_CHECK(!v.ok() || genuinely_signed(p->checkpoint.text), "only genuine checkpoints verify");
  }
  auto c = tlog::parse_consistency_proof(in);
  if (c.ok()) {
    auto again = tlog::format_consistency_proof(*c);
    KM_FUZZ_CHECK(again.ok(), "a parsed consistency proof formats");
    KM_FUZZ_CHECK(*again == in, "format_consistency_proof(parse_consistency_proof(x)) == x");
    const tlog::Checkpoint old{"keymgr.example/ledger", c->old_size, {}, {}};
    (void)tlog::verify_consistency_proof(*c, old, policy);
  }
  return 0;
}

}  // namespace keymgr::fuzz
