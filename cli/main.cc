// keymgr: the server (`keymgr serve`) and the admin CLI in one binary.
//
// Local commands (token, audit verify) open the database named in the config file.
// Remote commands (keyset, key, sign, verify, audit query/export/prove/keys/rotate-key) call the
// REST API at --url with the bearer token from $KEYMGR_API_TOKEN or --token-file (never argv).
// Offline commands (audit verify-proof) need neither; audit monitor reads only public routes.
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/app.h"
#include "cli/audit_commands.h"
#include "cli/cli_support.h"
#include "cli/config.h"
#include "cli/unreachable.h"
#include "common/logging.h"
#include "db/pg_store.h"

namespace {
using nlohmann::json;
using namespace keymgr;
using namespace keymgr::cli;

std::string default_config() {
  if (const char* c = std::getenv("KEYMGR_CONFIG"); c != nullptr && *c) return c;
  return "";
}

void harden_process() {
  // No core dumps: a crash dump is how the 2023 key leaked. keymgr holds no private key, but it
  // holds the HSM PIN and API token hashes.
  struct rlimit rl {0, 0};
  setrlimit(RLIMIT_CORE, &rl);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  signal(SIGPIPE, SIG_IGN);
}

int cmd_serve(const std::string& config_path) {
  harden_process();
  auto cfg = cli::load_config(config_path);
  if (!cfg.ok()) return fail(cfg.status());
  if (Status st = init_logging(cfg->log); !st.ok()) return fail(st);
  // Block termination signals in every thread; the main thread waits for them below.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto app = cli::App::open(*cfg);
  if (!app.ok()) return fail(app.status());
  if (Status st = (*app)->start(); !st.ok()) return fail(st);
  const std::string base = std::string(cfg->server.tls_cert.empty() ? "http" : "https") + "://" + cfg->server.host +
                           ":" + std::to_string((*app)->port());
  spdlog::info("keymgr listening on {} (database {}, HSM token '{}')", base, db::redact_database_url(cfg->db_location()), cfg->hsm_token_label);
  if ((*app)->public_port() >= 0) {
    spdlog::info("public listener (JWKS, discovery, /healthz) on http://{}:{}",
                 cfg->server.public_host.empty() ? cfg->server.host : cfg->server.public_host, (*app)->public_port());
  }
  // The first keysets by name; with thousands, a line each would bury the log.
  constexpr size_t kListed = 20;
  const auto keysets = (*app)->keys().keysets();
  for (size_t i = 0; i < keysets.size() && i < kListed; ++i) {
    const auto& ks = keysets[i];
    spdlog::info("keyset '{}': issuer {}  JWKS {}/v1/keysets/{}/jwks.json", ks->name, ks->issuer, base, ks->name);
  }
  if (keysets.size() > kListed) {
    spdlog::info("... and {} more keysets (GET {}/v1/keysets lists them all)", keysets.size() - kListed, base);
  }
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("signal {} received, shutting down", sig);
  (*app)->stop();
  return 0;
}

// ---------------------------------------------------------------- local commands

// The ledger's actor for local commands: "cli:<user>@<host>", the user from the password database
// for the effective uid (never $USER, which anyone can set), "uid<N>" when it has no entry.
std::string local_actor() {
  std::string user = "uid" + std::to_string(::geteuid());
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr && found->pw_name[0]) {
    user = found->pw_name;
  }
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "unknown-host");
  return "cli:" + user + "@" + host;
}

// ---------------------------------------------------------------- remote commands

std::string fmt_time(int64_t s) {
  if (s == 0) return "-";
  std::time_t t = s;
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

void print_keyset_table(const json& ks) {
  std::cout << "keyset  " << ks.value("name", "") << "  issuer " << ks.value("issuer", "") << "  alg "
            << ks.value("alg", "") << (ks.value("disabled", false) ? "  DISABLED" : "") << "\n";
  if (ks.contains("health")) {
    const auto& h = ks["health"];
    std::cout << "health  signing=" << h.value("signing", false) << " overdue=" << h.value("overdue", false)
              << (h.value("problem", "").empty() ? "" : "  " + h.value("problem", "")) << "\n";
  }
  if (!ks.contains("keys")) return;
  std::printf("%-44s %-15s %-21s %-21s %-21s\n", "KID", "STATE", "ACTIVATE", "DEACTIVATE", "RETIRE");
  for (const auto& k : ks["keys"]) {
    std::printf("%-44s %-15s %-21s %-21s %-21s\n", k.value("kid", "").c_str(), k.value("state", "").c_str(),
                fmt_time(k.value("activate_at", int64_t{0})).c_str(), fmt_time(k.value("deactivate_at", int64_t{0})).c_str(),
                fmt_time(k.value("retire_at", int64_t{0})).c_str());
  }
}

int show(const Remote& r, const std::string& method, const std::string& path, const json* body) {
  if (!r.table) return call(r, method, path, body);
  json out;
  int rc = call(r, method, path, body, &out);
  if (rc != 0) return rc;
  if (out.contains("keysets")) {
    std::printf("%-20s %-8s %-8s %-8s %s\n", "NAME", "ALG", "SIGNING", "OVERDUE", "ISSUER");
    for (const auto& k : out["keysets"]) {
      std::printf("%-20s %-8s %-8s %-8s %s\n", k.value("name", "").c_str(), k.value("alg", "").c_str(),
                  k["health"].value("signing", false) ? "yes" : "NO", k["health"].value("overdue", false) ? "YES" : "no",
                  k.value("issuer", "").c_str());
    }
  } else if (out.contains("entries")) {
    std::printf("%-8s %-21s %-10s %-22s %-14s %-8s %s\n", "SEQ", "TIME", "KIND", "EVENT", "KEYSET", "OUTCOME", "ACTOR");
    for (const auto& e : out["entries"]) {
      std::printf("%-8lld %-21s %-10s %-22s %-14s %-8s %s\n", static_cast<long long>(e.value("seq", int64_t{0})),
                  fmt_time(e.value("ts_ms", int64_t{0}) / 1000).c_str(), e.value("kind", "").c_str(),
                  e.value("event", "").c_str(), e.value("keyset", "").c_str(), e.value("outcome", "").c_str(),
                  e.value("actor", "").c_str());
    }
    if (!out["next_cursor"].is_null()) std::cout << "next page: --cursor " << out["next_cursor"] << "\n";
  } else {
    print_keyset_table(out);
  }
  return 0;
}

// Every option's storage, bound by the add_*_commands() below and read by the callbacks; lives
// in main() for the whole parse. A name shared by several commands (kname) is set by the one that runs.
struct Options {
  std::string config = default_config();
  Remote remote;
  int rc = 0;
  // token
  std::string tname, trole, tout, tid;
  std::vector<std::string> tkeysets;
  // keyset, key, sign, verify
  std::string kname, kissuer, kalg{algorithm_name(kDefaultAlgorithm)}, kpolicy, kreason, kkid;
  int64_t ksince = 0, kuntil = 0;
  std::string sclaims = "{}", stoken;
  int64_t sttl = 0;
  // audit query / export
  std::map<std::string, std::string> qf;
  std::string aformat = "ndjson";

  void add_remote(CLI::App* c) { add_remote_options(c, remote); }
};

// keymgr serve
void add_serve_command(CLI::App& app, Options& o) {
  auto* serve = app.add_subcommand("serve", "run the server");
  serve->callback([&o] { o.rc = cmd_serve(o.config); });
}

// keymgr token create|list|revoke (local: opens the database)
void add_token_commands(CLI::App& app, Options& o) {
  auto* token = app.add_subcommand("token", "API tokens (local: opens the database)");
  token->require_subcommand(1);
  auto* tcreate = token->add_subcommand("create", "create a token; prints it once");
  tcreate->add_option("--name", o.tname, "who or what uses it")->required();
  tcreate->add_option("--role", o.trole, "admin | ops | issuer | auditor")->required();
  tcreate->add_option("--keyset", o.tkeysets, "keyset an issuer token may sign for (repeatable)");
  tcreate->add_option("--out", o.tout, "write the token to this file (mode 0600) instead of stdout");
  tcreate->callback([&o] {
    auto l = open_local(o.config);
    if (!l.ok()) { o.rc = fail(l.status()); return; }
    auto role = parse_role(o.trole);
    if (!role) { o.rc = fail(InvalidArgument("role must be admin, ops, issuer or auditor")); return; }
    SystemClock clk;
    auto t = ApiTokenService(*l->store, clk).create(o.tname, *role, o.tkeysets, local_actor());
    if (!t.ok()) { o.rc = fail(t.status()); return; }
    if (!o.tout.empty()) {
      umask(077);
      std::ofstream f(o.tout, std::ios::trunc);
      f << t->token << "\n";
      if (!f) { o.rc = fail(Unavailable("cannot write " + o.tout)); return; }
      std::cerr << "token " << t->record.id << " (" << o.trole << ") written to " << o.tout << "\n";
    } else {
      std::cout << t->token << "\n";
    }
  });
  auto* tlist = token->add_subcommand("list", "list tokens (never their secrets)");
  tlist->callback([&o] {
    auto l = open_local(o.config);
    if (!l.ok()) { o.rc = fail(l.status()); return; }
    SystemClock clk;
    auto list = ApiTokenService(*l->store, clk).list();
    if (!list.ok()) { o.rc = fail(list.status()); return; }
    std::printf("%-18s %-20s %-8s %-12s %s\n", "ID", "NAME", "ROLE", "REVOKED", "KEYSETS");
    for (const auto& t : *list) {
      std::string ks;
      for (const auto& k : t.keysets) ks += (ks.empty() ? "" : ",") + k;
      std::printf("%-18s %-20s %-8s %-12s %s\n", t.id.c_str(), t.name.c_str(), t.role.c_str(),
                  t.revoked_at ? fmt_time(*t.revoked_at).substr(0, 10).c_str() : "-", ks.c_str());
    }
  });
  auto* trevoke = token->add_subcommand("revoke", "revoke a token by id");
  trevoke->add_option("id", o.tid, "token id")->required();
  trevoke->callback([&o] {
    auto l = open_local(o.config);
    if (!l.ok()) { o.rc = fail(l.status()); return; }
    SystemClock clk;
    Status st = ApiTokenService(*l->store, clk).revoke(o.tid, local_actor());
    if (!st.ok()) { o.rc = fail(st); return; }
    std::cout << "revoked " << o.tid << "\n";
  });
}

// keymgr keyset list|show|create|update|disable|enable (remote)
void add_keyset_commands(CLI::App& app, Options& o) {
  auto* keyset = app.add_subcommand("keyset", "keysets (remote)");
  keyset->require_subcommand(1);
  o.add_remote(keyset);
  auto* klist = keyset->add_subcommand("list", "list keysets");
  klist->callback([&o] { o.rc = show(o.remote, "GET", "/v1/keysets", nullptr); });
  auto* kshow = keyset->add_subcommand("show", "show a keyset with its keys");
  kshow->add_option("name", o.kname)->required();
  kshow->callback([&o] { o.rc = show(o.remote, "GET", "/v1/keysets/" + o.kname, nullptr); });
  auto* kcreate = keyset->add_subcommand("create", "create a keyset");
  kcreate->add_option("name", o.kname)->required();
  kcreate->add_option("--issuer", o.kissuer, "issuer URL (unique)")->required();
  kcreate->add_option("--alg", o.kalg, "ES256 | ES384 | RS256 | RS256-3072 | PS256 | PS256-3072 | EdDSA");
  kcreate->add_option("--policy", o.kpolicy, "policy JSON, e.g. '{\"sign_period\":\"30d\"}'");
  kcreate->callback([&o] {
    json body = {{"name", o.kname}, {"issuer", o.kissuer}, {"alg", o.kalg}};
    if (!o.kpolicy.empty()) {
      json p = json::parse(o.kpolicy, nullptr, false);
      if (p.is_discarded()) { o.rc = fail(InvalidArgument("--policy is not JSON")); return; }
      body["policy"] = p;
    }
    o.rc = show(o.remote, "POST", "/v1/keysets", &body);
  });
  auto* kupdate = keyset->add_subcommand("update", "change a keyset's policy (fields given are changed)");
  kupdate->add_option("name", o.kname)->required();
  kupdate->add_option("--policy", o.kpolicy, "policy JSON")->required();
  kupdate->callback([&o] {
    json p = json::parse(o.kpolicy, nullptr, false);
    if (p.is_discarded()) { o.rc = fail(InvalidArgument("--policy is not JSON")); return; }
    json body = {{"policy", p}};
    o.rc = show(o.remote, "PATCH", "/v1/keysets/" + o.kname, &body);
  });
  for (bool disable : {true, false}) {
    auto* c = keyset->add_subcommand(disable ? "disable" : "enable", disable ? "stop a keyset signing" : "let it sign again");
    c->add_option("name", o.kname)->required();
    c->add_option("--reason", o.kreason);
    c->callback([&o, disable] {
      json body = {{"disabled", disable}, {"reason", o.kreason}};
      o.rc = show(o.remote, "PATCH", "/v1/keysets/" + o.kname, &body);
    });
  }
}

// keymgr key rotate|emergency-rotate|suspend|resume|compromise|destroy|extend (remote)
void add_key_commands(CLI::App& app, Options& o) {
  auto* key = app.add_subcommand("key", "key operations (remote)");
  key->require_subcommand(1);
  o.add_remote(key);
  auto* krot = key->add_subcommand("rotate", "promote the pre-published key (or pre-publish one)");
  krot->add_option("keyset", o.kname)->required();
  krot->add_option("--reason", o.kreason);
  krot->callback([&o] {
    json body = {{"reason", o.kreason}};
    o.rc = show(o.remote, "POST", "/v1/keysets/" + o.kname + "/rotate", &body);
  });
  auto* kemerg = key->add_subcommand("emergency-rotate", "a new key signs at once");
  kemerg->add_option("keyset", o.kname)->required();
  kemerg->add_option("--reason", o.kreason)->required();
  kemerg->callback([&o] {
    json body = {{"reason", o.kreason}};
    o.rc = show(o.remote, "POST", "/v1/keysets/" + o.kname + "/emergency-rotate", &body);
  });
  for (const char* verb : {"suspend", "resume", "compromise", "destroy", "extend"}) {
    auto* c = key->add_subcommand(verb, std::string(verb) + " a key");
    c->add_option("keyset", o.kname)->required();
    c->add_option("kid", o.kkid)->required();
    auto* reason = c->add_option("--reason", o.kreason);
    std::string v = verb;
    if (v == "compromise") {
      reason->required();
      c->add_option("--since", o.ksince, "suspected since (Unix seconds)");
    }
    if (v == "extend") {
      reason->required();
      c->add_option("--until", o.kuntil, "new end of the signing window (Unix seconds)")->required();
    }
    c->callback([&o, v] {
      json body = {{"reason", o.kreason}};
      if (v == "compromise" && o.ksince > 0) body["suspected_since"] = o.ksince;
      if (v == "extend") body["until"] = o.kuntil;
      o.rc = show(o.remote, "POST", "/v1/keysets/" + o.kname + "/keys/" + o.kkid + "/" + v, &body);
    });
  }
}

// keymgr sign / keymgr verify (remote)
void add_sign_commands(CLI::App& app, Options& o) {
  auto* sign = app.add_subcommand("sign", "sign a token (issuer token)");
  o.add_remote(sign);
  sign->add_option("keyset", o.kname)->required();
  sign->add_option("--claims", o.sclaims, "claims JSON");
  sign->add_option("--ttl", o.sttl, "lifetime in seconds");
  sign->callback([&o] {
    json c = json::parse(o.sclaims, nullptr, false);
    if (c.is_discarded()) { o.rc = fail(InvalidArgument("--claims is not JSON")); return; }
    json body = {{"claims", c}};
    if (o.sttl > 0) body["ttl"] = o.sttl;
    o.rc = call(o.remote, "POST", "/v1/keysets/" + o.kname + "/sign", &body);
  });
  auto* verify = app.add_subcommand(
      "verify", "verify a token against a keyset; exits 0 when it is valid, 5 when it is not (reasons on stderr)");
  o.add_remote(verify);
  verify->add_option("keyset", o.kname)->required();
  verify->add_option("token", o.stoken, "the compact JWT (or - to read stdin)")->required();
  verify->callback([&o] {
    if (o.stoken == "-") std::getline(std::cin, o.stoken);
    json body = {{"token", o.stoken}};
    json out;
    o.rc = call(o.remote, "POST", "/v1/keysets/" + o.kname + "/verify", &body, &out);
    if (o.rc != 0) return;
    const bool valid = out.value("valid", false);
    if (o.remote.table) {
      std::printf("valid  %s  kid %s\n", valid ? "yes" : "NO", out.value("kid", "").c_str());
      std::printf("%-18s %-4s %s\n", "CHECK", "OK", "DETAIL");
      for (const auto& c : out.value("checks", json::array())) {
        std::printf("%-18s %-4s %s\n", c.value("check", "").c_str(), c.value("ok", false) ? "yes" : "NO",
                    c.value("detail", "").c_str());
      }
    } else {
      std::cout << out.dump(2) << "\n";
    }
    if (!valid) {
      std::string reasons;
      for (const auto& r : out.value("reasons", json::array())) {
        reasons += (reasons.empty() ? "" : "; ") + (r.is_string() ? r.get<std::string>() : r.dump());
      }
      std::cerr << "keymgr: the token is not valid" << (reasons.empty() ? "" : ": " + reasons) << "\n";
      o.rc = kExitTokenInvalid;
    }
  });
}

// keymgr audit query | export (remote); the transparency log's commands in audit_commands.cc
void add_audit_commands(CLI::App& app, Options& o) {
  auto* audit = app.add_subcommand("audit", "the signing ledger and its transparency log");
  audit->require_subcommand(1);
  add_log_commands(*audit, o.config, o.remote, o.rc);
  auto* aquery = audit->add_subcommand("query", "query the ledger (remote; auditor token)");
  o.add_remote(aquery);
  auto* aexport = audit->add_subcommand("export", "export the ledger as NDJSON or CSV (remote)");
  o.add_remote(aexport);
  for (auto* c : {aquery, aexport}) {
    for (const char* f : {"keyset", "kid", "sub", "jti", "actor", "outcome", "kind", "from", "to", "cursor", "limit"}) {
      c->add_option(std::string("--") + f, o.qf[f]);
    }
  }
  aexport->add_option("--format", o.aformat, "ndjson | csv");
  auto query_string = [&o] {
    std::string q;
    for (const auto& [k, v] : o.qf) {
      if (!v.empty()) q += (q.empty() ? "?" : "&") + k + "=" + url_escape(v);
    }
    return q;
  };
  aquery->callback([&o, query_string] { o.rc = show(o.remote, "GET", "/v1/audit/ledger" + query_string(), nullptr); });
  aexport->callback([&o, query_string] {
    auto tok = api_token(o.remote);
    if (!tok.ok()) { o.rc = fail(tok.status()); return; }
    httplib::Client c(o.remote.url);
    std::string q = query_string();
    q += (q.empty() ? "?" : "&") + std::string("format=") + url_escape(o.aformat);
    auto res = c.Get("/v1/audit/export" + q, {{"Authorization", "Bearer " + *tok}},
                     [](const char* data, size_t n) {
                       std::cout.write(data, static_cast<std::streamsize>(n));
                       return true;
                     });
    if (!res) {
      std::cerr << "keymgr: " << cli::unreachable_message(o.remote.url, res.error()) << "\n";
      o.rc = kExitUnavailable;
    } else if (res->status != 200) {
      std::cerr << "keymgr: export failed: HTTP " << res->status << "\n";
      o.rc = res->status == 503 ? kExitUnavailable : (res->status < 500 ? kExitBadRequest : kExitError);
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"keymgr: signing keys in an HSM, rotated, published, and every signature in a ledger"};
  app.require_subcommand(1);
  app.footer(kExitHelp);
  // Options of a parent command (--config, --url, --table...) may also follow a subcommand.
  app.fallthrough();
  Options o;
  app.add_option("-c,--config", o.config, "configuration file (TOML); default $KEYMGR_CONFIG");
  if (const char* u = std::getenv("KEYMGR_URL"); u != nullptr && *u) o.remote.url = u;
  add_serve_command(app, o);
  add_token_commands(app, o);
  add_keyset_commands(app, o);
  add_key_commands(app, o);
  add_sign_commands(app, o);
  add_audit_commands(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return o.rc;
}
