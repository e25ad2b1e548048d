#include "cli/audit_commands.h"

#include <sys/stat.h>

#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "db/ledger_hash.h"
#include "hsm/hsm.h"
#include "keymgr/audit_service.h"
#include "keymgr/ledger_log.h"
#include "keymgr/signed_note.h"
#include "keymgr/tlog_text.h"

namespace keymgr::cli {
namespace {
using nlohmann::json;

constexpr size_t kMaxTokenSize = 64 * 1024;  // as POST /v1/audit/proof
constexpr size_t kMaxKeyFileSize = 1 << 20;

// Option storage of these commands, shared by their callbacks (so it lives as long as the parser).
struct LogCommandOptions {
  // prove
  std::string token, jti, token_sha256, out;
  int64_t seq = 0;
  // verify-proof, monitor
  std::vector<std::string> keys;
  std::vector<std::string> witness_keys;  // cosignature/v1 verifier keys
  int witness_quorum = -1;                // -1: every --witness-key
  std::string origin, file, check_token, since, url;
  bool init = false;
  // keys
  std::string keys_format = "json";
};

// An HSM that refuses every call. `audit verify` only reads: checkpoint signatures are checked with
// the verifier keys stored beside them, so it needs neither the HSM nor its PIN and also runs on a
// copy of the database.
class NoHsm final : public hsm::Hsm {
 public:
  std::vector<Algorithm> supported_algorithms() const override { return {}; }
  Result<hsm::KeyInfo> generate_key(Algorithm, std::string_view, std::string_view) override { return refuse(); }
  Result<std::vector<hsm::KeyInfo>> list_keys(std::string_view) override { return refuse(); }
  Result<Bytes> sign(std::string_view, Algorithm, std::string_view) override { return refuse(); }
  Status destroy_key(std::string_view) override { return refuse(); }
  Status health() override { return refuse(); }
  Status refresh_view() override { return refuse(); }

 private:
  static Status refuse() { return Unavailable("audit verify does not use the HSM", "hsm_unavailable"); }
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// Malformed input from the command line or a file: exit 2 whatever the status's class.
int bad_input(const Status& st) {
  std::cerr << "keymgr: " << st.to_string() << "\n";
  return kExitBadRequest;
}

// Something did not verify: a JSON verdict on stdout, the reason on stderr, exit 4.
int not_verified(const std::string& problem, const std::string& message, json verdict = json::object()) {
  verdict["ok"] = false;
  verdict["problem"] = problem;
  verdict["message"] = message;
  std::cout << verdict.dump(2) << "\n";
  std::cerr << "keymgr: " << message << "\n";
  return kExitDataLoss;
}

// A token from the argument, or from stdin when it is "-" (surrounding white space dropped).
Result<std::string> token_argument(const std::string& arg) {
  std::string t = arg;
  if (arg == "-") { ASSIGN_OR_RETURN(t, read_input("-", kMaxTokenSize)); }
  t = std::string(trim(t));
  if (t.empty()) return InvalidArgument("the token is empty", "bad_token");
  return t;
}

// --key values: verifier keys (name+hex8+base64, as GET /v1/audit/keys?format=text serves them), or
// @FILE with one per line (blank lines and lines starting with # are skipped). Duplicates count once.
Result<std::vector<note::NoteKey>> trusted_keys(const std::vector<std::string>& args, bool required = true) {
  std::vector<note::NoteKey> out;
  std::set<std::string> seen;
  auto add = [&](std::string_view v, const std::string& where) -> Status {
    auto k = note::parse_verifier_key(v);
    if (!k.ok()) return InvalidArgument(where + ": not a verifier key: " + k.status().message(), "bad_key");
    if (seen.insert(std::string(v)).second) out.push_back(std::move(*k));
    return Status::Ok();
  };
  for (const auto& a : args) {
    if (a.empty() || a[0] != '@') {
      RETURN_IF_ERROR(add(trim(a), "--key"));
      continue;
    }
    const std::string path = a.substr(1);
    ASSIGN_OR_RETURN(std::string text, read_input(path, kMaxKeyFileSize));
    size_t line_no = 0;
    for (size_t pos = 0; pos < text.size();) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      const std::string_view line = trim(std::string_view(text).substr(pos, nl - pos));
      pos = nl + 1;
      ++line_no;
      if (line.empty() || line[0] == '#') continue;
      RETURN_IF_ERROR(add(line, path + ":" + std::to_string(line_no)));
    }
  }
  if (out.empty() && required) {
    return InvalidArgument("give the log's verifier key(s) with --key (GET /v1/audit/keys?format=text)", "no_key");
  }
  return out;
}

// --witness-key (cosignature/v1 keys only) and --witness-quorum (default: all of them) into `policy`.
Status add_witness_policy(const LogCommandOptions& o, tlog::TrustPolicy& policy) {
  ASSIGN_OR_RETURN(auto keys, trusted_keys(o.witness_keys, false));
  for (const auto& k : keys) {
    if (k.type != note::SigType::kCosignatureV1) {
      return InvalidArgument("--witness-key " + k.name + " is not a cosignature/v1 (type 0x04) verifier key", "bad_key");
    }
  }
  if (o.witness_quorum > static_cast<int>(keys.size())) {
    return InvalidArgument("--witness-quorum " + std::to_string(o.witness_quorum) + " is more than the " +
                               std::to_string(keys.size()) + " --witness-key given",
                           "bad_quorum");
  }
  policy.witness_quorum = o.witness_quorum < 0 ? keys.size() : static_cast<size_t>(o.witness_quorum);
  policy.witness_keys = std::move(keys);
  return Status::Ok();
}

json cosigners_json(const std::vector<tlog::Cosigned>& cos) {
  json arr = json::array();
  for (const auto& c : cos) arr.push_back({{"witness", note::verifier_key_string(c.witness)}, {"timestamp", c.timestamp}});
  return arr;
}

json signers_json(const std::vector<note::NoteKey>& keys) {
  json arr = json::array();
  for (const auto& k : keys) arr.push_back(note::verifier_key_string(k));
  return arr;
}

// ---------------------------------------------------------------- audit verify (local)

int cmd_verify(const std::string& config, const std::vector<std::string>& key_args) {
  std::optional<std::vector<note::NoteKey>> pinned;
  if (!key_args.empty()) {
    auto keys = trusted_keys(key_args);
    if (!keys.ok()) return bad_input(keys.status());
    pinned = std::move(*keys);
  }
  auto l = open_local(config);
  if (!l.ok()) return fail(l.status());
  SystemClock clk;
  NoHsm no_hsm;
  LedgerLog log(no_hsm, *l->store, clk, l->cfg.ledger);
  auto rep = log.verify(std::move(pinned));
  if (!rep.ok()) return fail(rep.status());
  std::cout << log_report_to_json(*rep).dump(2) << "\n";
  if (rep->ok()) return 0;
  if (!rep->chain.ok) {
    std::cerr << "keymgr: ledger chain broken at seq " << (rep->chain.first_bad_seq ? *rep->chain.first_bad_seq : 0)
              << ": " << rep->chain.problem << "\n";
  }
  if (!rep->problem.empty()) {
    std::cerr << "keymgr: transparency log does not verify: " << rep->problem
              << (rep->bad_checkpoint_size ? " (checkpoint of size " + std::to_string(*rep->bad_checkpoint_size) + ")" : "")
              << "\n";
  }
  return kExitDataLoss;
}

// ---------------------------------------------------------------- audit prove (remote)

int cmd_prove(const Remote& r, const LogCommandOptions& o) {
  const int given = (o.token.empty() ? 0 : 1) + (o.seq > 0 ? 1 : 0) + (o.jti.empty() ? 0 : 1) +
                    (o.token_sha256.empty() ? 0 : 1);
  if (given != 1) return bad_input(InvalidArgument("give exactly one of TOKEN, --seq, --jti, --token-sha256"));
  std::string text;
  int rc = 0;
  if (!o.token.empty()) {
    // The token's holder proves its own entry: public, and the token travels in the body only.
    auto token = token_argument(o.token);
    if (!token.ok()) return bad_input(token.status());
    const std::string body = json{{"token", *token}}.dump();
    rc = http(r, "POST", "/v1/audit/proof?format=text", &body, false, &text);
  } else {
    const std::string q = o.seq > 0       ? "seq=" + std::to_string(o.seq)
                          : !o.jti.empty() ? "jti=" + url_escape(o.jti)
                                           : "token_sha256=" + url_escape(o.token_sha256);
    rc = http(r, "GET", "/v1/audit/proof?" + q + "&format=text", nullptr, true, &text);
  }
  if (rc != 0) return rc;
  // Only the form is checked here; verify-proof checks it against keys obtained elsewhere.
  if (auto p = tlog::parse_inclusion_proof(text); !p.ok()) {
    std::cerr << "keymgr: the server's answer is not a tlog-proof file: " << p.status().to_string() << "\n";
    return kExitError;
  }
  if (o.out.empty()) {
    std::cout << text;
    return 0;
  }
  if (Status st = write_file_atomic(o.out, text); !st.ok()) return fail(st);
  std::cerr << "proof written to " << o.out << "\n";
  return 0;
}

// ---------------------------------------------------------------- audit verify-proof (offline)

int cmd_verify_proof(const LogCommandOptions& o) {
  auto text = read_input(o.file, tlog::kMaxProofFileSize);
  if (!text.ok()) return bad_input(text.status());
  auto proof = tlog::parse_inclusion_proof(*text);
  if (!proof.ok()) return bad_input(proof.status().with_context(o.file + " is not a tlog-proof file"));
  auto keys = trusted_keys(o.keys);
  if (!keys.ok()) return bad_input(keys.status());
  std::optional<std::string> token;
  if (!o.check_token.empty()) {
    auto t = token_argument(o.check_token);
    if (!t.ok()) return bad_input(t.status());
    token = *t;
  }
  tlog::TrustPolicy policy;
  policy.log_keys = *keys;
  if (Status st = add_witness_policy(o, policy); !st.ok()) return bad_input(st);
  std::string origin_source = "--origin";
  if (!o.origin.empty()) {
    policy.origin = o.origin;
  } else {
    auto cp = tlog::parse_checkpoint(proof->checkpoint.text);
    if (!cp.ok()) return bad_input(cp.status());
    policy.origin = cp->origin;
    origin_source = "proof";
    std::cerr << "keymgr: origin '" << policy.origin
              << "' taken from the proof's own checkpoint (the keys still bind it); pass --origin to require it\n";
  }
  if (!proof->extra) {
    return bad_input(InvalidArgument("the proof has no 'extra' line: it does not carry the ledger entry", "proof_malformed"));
  }

  json verdict = {{"origin", policy.origin}, {"origin_source", origin_source}, {"index", proof->index}};
  auto v = tlog::verify_inclusion_proof(*proof, policy);
  if (!v.ok()) {
    return not_verified(std::string(v.status().reason()), "the proof does not verify: " + v.status().to_string(), verdict);
  }
  verdict["tree_size"] = v->checkpoint.checkpoint.size;
  verdict["signed_by"] = signers_json(v->checkpoint.log_signers);
  verdict["cosigned_by"] = cosigners_json(v->checkpoint.cosigners);
  // The leaf is authenticated now; it must also be what keymgr's log holds at this index.
  auto entry = db::ledger_decode_canonical(to_string(*proof->extra));
  if (!entry.ok()) {
    return not_verified("leaf_not_a_ledger_entry", "the proven leaf is not a ledger entry: " + entry.status().to_string(),
                        verdict);
  }
  if (entry->seq < 1 || static_cast<uint64_t>(entry->seq - 1) != proof->index) {
    return not_verified("leaf_seq_mismatch",
                        "the proven entry has seq " + std::to_string(entry->seq) + " at leaf index " +
                            std::to_string(proof->index) + " (a log of this ledger holds seq index+1)",
                        verdict);
  }
  json e = ledger_entry_to_json(*entry);
  e.erase("hash");  // the chain hash is not part of the leaf
  verdict["entry"] = e;
  verdict["token_matches"] = nullptr;
  if (token) {
    const bool matches = hex_encode(sha256(*token)) == entry->token_sha256;
    verdict["token_matches"] = matches;
    if (!matches) {
      return not_verified("token_mismatch",
                          "the proof is valid, but for another token: SHA-256 of the token is not the entry's "
                          "token_sha256 " + entry->token_sha256,
                          verdict);
    }
  }
  verdict["ok"] = true;
  std::cout << verdict.dump(2) << "\n";
  return 0;
}

// ---------------------------------------------------------------- audit monitor

// The server's newest checkpoint, parsed (not verified). Exit code in *rc on failure.
std::optional<note::SignedNote> fetch_checkpoint(const Remote& r, int* rc) {
  std::string text;
  if ((*rc = http(r, "GET", "/v1/audit/checkpoint", nullptr, false, &text)) != 0) return std::nullopt;
  auto n = note::parse_note(text);
  if (!n.ok() || !tlog::parse_checkpoint(n->text).ok()) {
    std::cerr << "keymgr: " << r.url << "/v1/audit/checkpoint is not a signed checkpoint"
              << (n.ok() ? "" : ": " + n.status().to_string()) << "\n";
    *rc = kExitError;
    return std::nullopt;
  }
  return *n;
}

int save_checkpoint(const std::string& path, const note::SignedNote& n) {
  auto text = note::format_note(n);
  if (!text.ok()) return fail(text.status());
  if (Status st = write_file_atomic(path, *text); !st.ok()) return fail(st);
  return 0;
}

int cmd_monitor(const LogCommandOptions& o) {
  auto keys = trusted_keys(o.keys);
  if (!keys.ok()) return bad_input(keys.status());
  Remote r;
  r.url = o.url;
  tlog::TrustPolicy policy;
  policy.log_keys = *keys;
  policy.origin = o.origin;
  if (Status st = add_witness_policy(o, policy); !st.ok()) return bad_input(st);
  int rc = 0;

  if (o.init) {
    struct stat st {};
    if (::stat(o.since.c_str(), &st) == 0) {
      return bad_input(InvalidArgument(o.since + " exists: --init starts a new monitor only (remove the file to start over)",
                                       "already_initialised"));
    }
    auto fresh = fetch_checkpoint(r, &rc);
    if (!fresh) return rc;
    if (policy.origin.empty()) policy.origin = tlog::parse_checkpoint(fresh->text)->origin;
    auto v = tlog::verify_checkpoint(*fresh, policy);
    if (!v.ok()) {
      return not_verified(std::string(v.status().reason()),
                          "the server's checkpoint does not verify with the given keys: " + v.status().to_string());
    }
    if ((rc = save_checkpoint(o.since, *fresh)) != 0) return rc;
    std::cout << json{{"ok", true},
                      {"init", true},
                      {"new_size", v->checkpoint.size},
                      {"origin", policy.origin},
                      {"signed_by", signers_json(v->log_signers)},
                      {"cosigned_by", cosigners_json(v->cosigners)}}
                     .dump(2)
              << "\n";
    return 0;
  }

  auto saved_text = read_input(o.since, note::kMaxNoteSize);
  if (!saved_text.ok()) {
    return bad_input(saved_text.status().with_context("the saved checkpoint (start with --init)"));
  }
  auto saved = note::parse_note(*saved_text);
  if (!saved.ok()) return bad_input(saved.status().with_context(o.since + " is not a signed note"));
  auto saved_cp = tlog::parse_checkpoint(saved->text);
  if (!saved_cp.ok()) return bad_input(saved_cp.status().with_context(o.since + " is not a checkpoint"));
  if (policy.origin.empty()) policy.origin = saved_cp->origin;
  // The saved checkpoint was accepted before (perhaps without witnesses): only its signatures count.
  tlog::TrustPolicy saved_policy = policy;
  saved_policy.witness_quorum = 0;
  auto old = tlog::verify_checkpoint(*saved, saved_policy);
  if (!old.ok()) {
    return not_verified(std::string(old.status().reason()),
                        "the saved checkpoint " + o.since + " does not verify with the given keys: " + old.status().to_string());
  }
  const uint64_t old_size = old->checkpoint.size;
  json verdict = {{"old_size", old_size}, {"origin", policy.origin}};

  auto fresh = fetch_checkpoint(r, &rc);
  if (!fresh) return rc;
  auto now = tlog::verify_checkpoint(*fresh, policy);
  if (!now.ok()) {
    return not_verified(std::string(now.status().reason()),
                        "the server's checkpoint does not verify with the given keys: " + now.status().to_string(), verdict);
  }
  const uint64_t new_size = now->checkpoint.size;
  verdict["new_size"] = new_size;
  verdict["cosigned_by"] = cosigners_json(now->cosigners);
  if (new_size < old_size) {
    return not_verified("log_truncated",
                        "LOG REWRITTEN: the server's signed checkpoint has " + std::to_string(new_size) +
                            " entries, fewer than the " + std::to_string(old_size) +
                            " of the saved one: the log was truncated or rolled back",
                        verdict);
  }
  if (new_size == old_size) {
    if (now->checkpoint.root != old->checkpoint.root) {
      return not_verified("log_forked",
                          "LOG REWRITTEN: two signed checkpoints of size " + std::to_string(new_size) +
                              " with different roots: the log's history was changed",
                          verdict);
    }
    verdict["ok"] = true;
    verdict["updated"] = false;
    std::cout << verdict.dump(2) << "\n";
    return 0;
  }

  std::string text;
  if ((rc = http(r, "GET",
                 "/v1/audit/proof/consistency?from=" + std::to_string(old_size) + "&to=" + std::to_string(new_size) +
                     "&format=text",
                 nullptr, false, &text)) != 0) {
    return rc;
  }
  auto cons = tlog::parse_consistency_proof(text);
  if (!cons.ok()) {
    std::cerr << "keymgr: the server's consistency proof is malformed: " << cons.status().to_string() << "\n";
    return kExitError;
  }
  auto proven = tlog::verify_consistency_proof(*cons, old->checkpoint, policy);
  if (!proven.ok()) {
    const std::string_view reason = proven.status().reason();
    if (reason.starts_with("note_") || reason.starts_with("checkpoint_")) {
      return not_verified(std::string(reason),
                          "the consistency proof's checkpoint does not verify: " + proven.status().to_string(), verdict);
    }
    return not_verified("log_rewritten",
                        "LOG REWRITTEN: the server cannot prove that its log of " + std::to_string(new_size) +
                            " entries extends the saved checkpoint of " + std::to_string(old_size) + " (" +
                            proven.status().to_string() + "): entries already published were changed",
                        verdict);
  }
  if (proven->checkpoint != now->checkpoint) {
    return not_verified("log_forked",
                        "LOG REWRITTEN: the server signed two different checkpoints of size " + std::to_string(new_size),
                        verdict);
  }
  if ((rc = save_checkpoint(o.since, *fresh)) != 0) return rc;
  verdict["ok"] = true;
  verdict["updated"] = true;
  std::cout << verdict.dump(2) << "\n";
  return 0;
}

}  // namespace

void add_log_commands(CLI::App& audit, const std::string& config, Remote& remote, int& rc) {
  auto o = std::make_shared<LogCommandOptions>();

  auto* verify = audit.add_subcommand(
      "verify",
      "local: audit the whole ledger in the database named by the config (hash chain, Merkle tree, every checkpoint "
      "signature by its own key id, consistency between checkpoints); needs no HSM; exit 4 names the first problem");
  verify->add_option("--key", o->keys,
                     "check checkpoint signatures against this verifier key (pinned out of band) instead of the keys "
                     "stored in the database, or @FILE with one per line; repeatable");
  verify->callback([o, &config, &rc] { rc = cmd_verify(config, o->keys); });

  auto* prove = audit.add_subcommand(
      "prove",
      "remote: a C2SP tlog-proof file showing a token's ledger entry in the signed log. With TOKEN (public: the "
      "token is the authorisation, sent in a POST body, never in a URL), or --seq/--jti/--token-sha256 (auditor token)");
  add_remote_options(prove, remote);
  prove->add_option("token", o->token, "the compact JWT, or - to read it from stdin");
  prove->add_option("--seq", o->seq, "ledger entry by seq (auditor token)");
  prove->add_option("--jti", o->jti, "the sign entry of this jti (auditor token)");
  prove->add_option("--token-sha256", o->token_sha256, "the sign entry of this token hash (hex; auditor token)");
  prove->add_option("-o,--out", o->out, "write the proof to this file (mode 0600) instead of stdout");
  prove->callback([o, &remote, &rc] { rc = cmd_prove(remote, *o); });

  auto* vproof = audit.add_subcommand(
      "verify-proof",
      "offline: verify a tlog-proof file (from `audit prove`) with the log's verifier keys, and print the proven "
      "ledger entry; exit 0 verified, 4 not verified or another token, 2 malformed input");
  vproof->add_option("file", o->file, "the proof file, or - for stdin")->required();
  vproof->add_option("--key", o->keys,
                     "a verifier key you trust (GET /v1/audit/keys?format=text), or @FILE with one per line; repeatable")
      ->required();
  vproof->add_option("--origin", o->origin, "the log's origin; default: the proof's checkpoint's own (the keys bind it)");
  vproof->add_option("--witness-key", o->witness_keys,
                     "a witness's cosignature/v1 verifier key whose cosignature you require, or @FILE; repeatable");
  vproof->add_option("--witness-quorum", o->witness_quorum, "how many --witness-key must have cosigned (default: all)")
      ->check(CLI::NonNegativeNumber);
  vproof->add_option("--token", o->check_token, "also check the entry is this token's (the JWT, or - for stdin)");
  vproof->callback([o, &rc] { rc = cmd_verify_proof(*o); });

  auto* monitor = audit.add_subcommand(
      "monitor",
      "an auditor's periodic check: the server's new signed checkpoint must be consistent with the one saved in "
      "--since (then it replaces it); exit 4 and \"LOG REWRITTEN\" on stderr when history changed. Keys come only "
      "from --key, never from the server");
  monitor->add_option("url", o->url, "the keymgr server, e.g. https://keymgr.example.com")->required();
  monitor->add_option("--since", o->since, "file holding the last checkpoint seen (written 0600, replaced atomically)")
      ->required();
  monitor->add_option("--key", o->keys, "a verifier key of the log, or @FILE with one per line; repeatable")->required();
  monitor->add_option("--origin", o->origin, "the log's origin; default: the saved checkpoint's");
  monitor->add_option("--witness-key", o->witness_keys,
                      "a witness's cosignature/v1 verifier key whose cosignature you require on the server's "
                      "checkpoint, or @FILE; repeatable");
  monitor->add_option("--witness-quorum", o->witness_quorum, "how many --witness-key must have cosigned (default: all)")
      ->check(CLI::NonNegativeNumber);
  monitor->add_flag("--init", o->init,
                    "save the server's current checkpoint (verified with --key) as the first one; refuses an existing file");
  monitor->callback([o, &rc] { rc = cmd_monitor(*o); });

  auto* keys = audit.add_subcommand("keys", "remote: the log's verifier keys (public)");
  add_remote_options(keys, remote);
  keys->add_option("--format", o->keys_format, "json | text (one verifier key per line, for --key @FILE)");
  keys->callback([o, &remote, &rc] {
    if (o->keys_format != "json" && o->keys_format != "text") {
      rc = bad_input(InvalidArgument("--format must be json or text"));
      return;
    }
    std::string text;
    rc = http(remote, "GET", std::string("/v1/audit/keys") + (o->keys_format == "text" ? "?format=text" : ""), nullptr,
              false, &text);
    if (rc != 0) return;
    if (o->keys_format == "text") {
      std::cout << text;
    } else {
      json j = json::parse(text, nullptr, false);
      std::cout << (j.is_discarded() ? text : j.dump(2)) << "\n";
    }
  });

  auto* rotate = audit.add_subcommand(
      "rotate-key", "remote: a new log key signs from now; the current ones retire after the overlap (admin token)");
  add_remote_options(rotate, remote);
  rotate->callback([&remote, &rc] {
    const json body = json::object();
    rc = call(remote, "POST", "/v1/audit/keys/rotate", &body);
  });
}

}  // namespace keymgr::cli
