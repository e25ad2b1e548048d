#include "tests/fuzz/fuzz_entries.h"

#include <httplib.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "api/auth.h"
#include "api/http_server.h"
#include "api/public_listener.h"
#include "cli/config.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json_util.h"
#include "db/alert_cursor.h"
#include "db/ledger_hash.h"
#include "db/open_store.h"
#include "db/pg_store.h"
#include "db/sqlite_store.h"
#include "db/store.h"
#include "hsm/public_key.h"
#include "keymgr/key_service.h"
#include "keymgr/monitor.h"
#include "keymgr/policy.h"
#include "keymgr/token_service.h"
#include "tests/support/fake_hsm.h"
#include "tests/support/softhsm_token.h"

#include <toml++/toml.h>

namespace keymgr::fuzz {
namespace {
using nlohmann::json;

void quiet_logs() {
  static const bool done = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)done;
}

void replace_all(std::string& s, std::string_view from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

// One process-wide environment: FakeHsm keysets over a real SQLite file (no fsync) at a fixed
// manual time. Deliberately never destroyed (the fuzzer exits without unwinding); the directory is
// removed at exit.
struct TokenEnv {
  std::string dir;
  ManualClock clock{from_unix_seconds(1767225600)};  // 2026-01-01
  std::unique_ptr<testing::FakeHsm> hsm;
  std::unique_ptr<db::Store> store;
  std::unique_ptr<KeyService> keys;
  std::unique_ptr<TokenService> tokens;
  std::vector<std::string> names{"a", "b", "c"};
  std::vector<Algorithm> algs{Algorithm::kES256, Algorithm::kEdDSA, Algorithm::kPS256};
  std::vector<std::string> kids, hsm_ids;
  std::vector<std::string> issued;  // genuinely issued tokens (in the ledger), of keyset a
  std::set<std::string> issued_set;
};

std::string g_token_dir;

TokenEnv& token_env() {
  static TokenEnv* env = [] {
    quiet_logs();
    auto* e = new TokenEnv;
    e->dir = testing::make_temp_dir("km-fuzz");
    g_token_dir = e->dir;
    std::atexit([] { testing::remove_tree(g_token_dir); });
    e->hsm = std::make_unique<testing::FakeHsm>();
    db::StoreOptions so;
    so.unsafe_no_sync = true;
    auto st = db::open_sqlite_store(e->dir + "/keymgr.db", so);
    KM_FUZZ_CHECK(st.ok(), "open store");
    e->store = std::move(*st);
    e->keys = std::make_unique<KeyService>(*e->hsm, *e->store, e->clock);
    KM_FUZZ_CHECK(e->keys->load().ok(), "load key service");
    e->tokens = std::make_unique<TokenService>(*e->keys, *e->hsm, *e->store);
    for (size_t i = 0; i < e->names.size(); ++i) {
      NewKeyset spec;
      spec.name = e->names[i];
      spec.issuer = "https://issuer.example/" + e->names[i];
      spec.alg = e->algs[i];
      auto ks = e->keys->create_keyset(spec, Actor{"fuzz", ""});
      KM_FUZZ_CHECK(ks.ok(), "create keyset");
      const Key* k = (*ks)->active_key();
      KM_FUZZ_CHECK(k != nullptr, "keyset has an active key");
      e->kids.push_back(k->kid);
      e->hsm_ids.push_back(k->hsm_id);
    }
    for (const char* sub : {"alice", "bob"}) {
      SignRequest r;
      r.keyset = "a";
      r.claims = {{"sub", sub}, {"aud", "api"}};
      r.ttl_seconds = 600;
      r.actor = Actor{"fuzz", ""};
      auto t = e->tokens->sign(r);
      KM_FUZZ_CHECK(t.ok(), "sign seed token");
      e->issued.push_back(t->token);
      e->issued_set.insert(t->token);
    }
    return e;
  }();
  return *env;
}

struct AuthEnv {
  SystemClock clock;
  std::unique_ptr<ApiTokenService> tokens;  // over the token environment's store (keysets a, b, c)
  // No cache (ttl 0): every header is resolved against the store.
  std::unique_ptr<api::Authenticator> auth;
  std::set<std::string> good_headers;  // "Bearer km_..." of tokens that are not revoked
  std::string admin, issuer, revoked;
};

AuthEnv& auth_env() {
  static AuthEnv* env = [] {
    auto* e = new AuthEnv;
    e->tokens = std::make_unique<ApiTokenService>(*token_env().store, e->clock);
    e->auth = std::make_unique<api::Authenticator>(*e->tokens, std::chrono::milliseconds(0));
    auto admin = e->tokens->create("admin", Role::kAdmin, {}, "fuzz");
    auto issuer = e->tokens->create("issuer", Role::kIssuer, {"a"}, "fuzz");
    auto revoked = e->tokens->create("gone", Role::kOps, {}, "fuzz");
    KM_FUZZ_CHECK(admin.ok() && issuer.ok() && revoked.ok(), "create api tokens");
    KM_FUZZ_CHECK(e->tokens->revoke(revoked->record.id, "fuzz").ok(), "revoke");
    e->good_headers = {"Bearer " + admin->token, "Bearer " + issuer->token};
    // The ids are random: the seed corpus names the tokens by placeholder (replaced in fuzz_auth).
    e->admin = admin->token;
    e->issuer = issuer->token;
    e->revoked = revoked->token;
    return e;
  }();
  return *env;
}


}  // namespace

int fuzz_json(const uint8_t* data, size_t size) {
  const std::string_view text = as_view(data, size);
  auto j = parse_json(text, {64 * 1024, 16});
  if (j.ok()) {
    const std::string dumped = j->dump();
    auto again = parse_json(dumped, {1 << 20, 16});
    KM_FUZZ_CHECK(again.ok(), "an accepted document re-parses after dump()");
    KM_FUZZ_CHECK(*again == *j, "dump/parse round trip is lossless");
  } else {
    KM_FUZZ_CHECK(j.status().reason() == "bad_json" || j.status().reason() == "too_large" ||
                      j.status().reason() == "json_too_deep",
                  "parse_json fails with a documented reason");
  }
  // The JWS header limits.
  (void)parse_json(text, {4096, 4});
  return 0;
}

int fuzz_claims(const uint8_t* data, size_t size) {
  TokenEnv& env = token_env();
  auto j = parse_json(as_view(data, size), {64 * 1024, 16});
  if (!j.ok()) return 0;
  const std::string issuer = "https://issuer.example/a";
  Status st = validate_claims(*j, issuer);
  if (!st.ok()) return 0;
  SignRequest r;
  r.keyset = "a";
  r.claims = *j;
  r.ttl_seconds = 300;
  r.actor = Actor{"fuzz", ""};
  auto t = env.tokens->sign(r);
  KM_FUZZ_CHECK(t.ok(), "claims that validate_claims accepts can be signed");
  auto v = env.tokens->verify("a", t->token);
  KM_FUZZ_CHECK(v.ok() && v->valid, "a token keymgr just issued verifies");
  // The payload carries exactly the caller's claims plus what keymgr sets.
  json got = v->claims;
  for (const char* k : {"iat", "nbf", "exp", "jti"}) got.erase(k);
  json want = *parse_json(j->dump(), {1 << 20, 64});
  want["iss"] = issuer;
  KM_FUZZ_CHECK(got == want, "signed payload equals the requested claims");
  return 0;
}

int fuzz_verify(const uint8_t* data, size_t size) {
  TokenEnv& env = token_env();
  std::string in(as_view(data, size));
  auto must_be_invalid = [&](std::string_view keyset, const std::string& token) {
    auto v = env.tokens->verify(keyset, token);
    KM_FUZZ_CHECK(v.ok(), "verify answers (the ledger is readable)");
    if (v->valid) {
      KM_FUZZ_CHECK(keyset == "a" && env.issued_set.count(token) == 1, "only issued tokens verify");
    }
    return v->valid;
  };
  if (in.size() >= 2 && in[1] == ':' && (in[0] == 'T' || in[0] == 'U' || in[0] == 'V')) {
    const std::string keyset = in[0] == 'T' ? "a" : in[0] == 'U' ? "b" : "c";
    must_be_invalid(keyset, in.substr(2));
    return 0;
  }
  if (in.size() >= 3 && in[0] == 'R' && in[1] == ':') {
    std::string token = env.issued[static_cast<uint8_t>(in[2]) % env.issued.size()];
    for (size_t i = 3; i + 1 < in.size(); i += 2) {
      token[static_cast<uint8_t>(in[i]) * 7 % token.size()] = in[i + 1];
    }
    const bool valid = must_be_invalid("a", token);
    if (env.issued_set.count(token)) KM_FUZZ_CHECK(valid, "an issued token verifies");
    must_be_invalid("b", token);
    return 0;
  }
  // "<header>\n<payload>[\n<raw signature bytes>]" with placeholders.
  const size_t n1 = in.find('\n');
  if (n1 == std::string::npos) return 0;
  const size_t n2 = in.find('\n', n1 + 1);
  std::string header = in.substr(0, n1);
  std::string payload = n2 == std::string::npos ? in.substr(n1 + 1) : in.substr(n1 + 1, n2 - n1 - 1);
  for (std::string* s : {&header, &payload}) {
    replace_all(*s, "@KA", env.kids[0]);
    replace_all(*s, "@KB", env.kids[1]);
    replace_all(*s, "@KC", env.kids[2]);
    replace_all(*s, "@NOW", std::to_string(to_unix_seconds(env.clock.now())));
  }
  const std::string signing_input = base64url_encode(header) + "." + base64url_encode(payload);
  std::string sig;
  if (n2 == std::string::npos) {
    auto s = env.hsm->sign(env.hsm_ids[0], env.algs[0], signing_input);
    KM_FUZZ_CHECK(s.ok(), "FakeHsm signs");
    sig = base64url_encode(*s);
  } else {
    sig = base64url_encode(std::string_view(in).substr(n2 + 1));
  }
  const std::string token = signing_input + "." + sig;
  must_be_invalid("a", token);
  must_be_invalid("b", token);
  return 0;
}

int fuzz_base64url(const uint8_t* data, size_t size) {
  const std::string_view text = as_view(data, size);
  if (auto d = base64url_decode(text)) {
    KM_FUZZ_CHECK(base64url_encode(*d) == text, "accepted base64url is canonical");
  }
  const std::string enc = base64url_encode(data, size);
  auto back = base64url_decode(enc);
  KM_FUZZ_CHECK(back && *back == Bytes(data, data + size), "encode/decode round trip");
  if (auto h = hex_decode(text)) KM_FUZZ_CHECK(h->size() * 2 == size, "hex length");
  return 0;
}

int fuzz_jwk(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const Algorithm kAlgs[] = {Algorithm::kES256, Algorithm::kES384, Algorithm::kRS256,
                                    Algorithm::kRS256_3072, Algorithm::kPS256, Algorithm::kPS256_3072,
                                    Algorithm::kEdDSA};
  const Algorithm alg = kAlgs[data[0] % 7];
  auto j = parse_json(as_view(data + 1, size - 1), {64 * 1024, 16});
  if (!j.ok()) return 0;
  auto key = hsm::public_key_from_jwk(*j, alg);
  if (!key.ok()) return 0;
  const json exported = hsm::public_jwk(*key);
  KM_FUZZ_CHECK(!exported.empty(), "an imported key exports");
  KM_FUZZ_CHECK(hsm::jwk_thumbprint(exported) == hsm::jwk_thumbprint(*j), "import/export keeps the thumbprint");
  // A signature that is not one (all zero) never verifies.
  Status s = hsm::verify_jws_signature(*key, alg, "e30.e30", Bytes(hsm::signature_size(alg), 0));
  KM_FUZZ_CHECK(!s.ok(), "an all-zero signature is rejected");
  return 0;
}

int fuzz_policy(const uint8_t* data, size_t size) {
  const std::string text(as_view(data, size));
  if (auto d = parse_duration(text); d.ok()) {
    KM_FUZZ_CHECK(d->count() >= 0, "durations are non-negative");
    auto again = parse_duration(format_duration(*d));
    KM_FUZZ_CHECK(again.ok() && *again == *d, "format_duration round trip");
  }
  auto j = parse_json(text, {64 * 1024, 16});
  if (!j.ok()) return 0;
  auto p = policy_from_json(*j);
  if (!p.ok()) return 0;
  (void)validate_policy(*p);
  auto again = policy_from_json(policy_to_json(*p));
  KM_FUZZ_CHECK(again.ok() && *again == *p, "policy JSON round trip");
  return 0;
}

int fuzz_config(const uint8_t* data, size_t size) {
  quiet_logs();
  auto c = cli::parse_config(as_view(data, size), "fuzz.toml");
  if (c.ok()) {
    KM_FUZZ_CHECK(c->server.port >= 0 && c->server.port <= 65535, "port in range");
    KM_FUZZ_CHECK(c->hsm_pool_size >= 1 && c->hsm_pool_size <= 256, "pool size in range");
    KM_FUZZ_CHECK(c->scheduler_interval.count() > 0, "scheduler interval positive");
  }
  return 0;
}

int fuzz_auth(const uint8_t* data, size_t size) {
  AuthEnv& env = auth_env();
  std::string header(as_view(data, size));
  replace_all(header, "@ADMIN", env.admin);
  replace_all(header, "@ISSUER", env.issuer);
  replace_all(header, "@REVOKED", env.revoked);
  auto p = env.auth->authenticate(header);
  if (p.ok()) {
    KM_FUZZ_CHECK(env.good_headers.count(header) == 1, "only a live token authenticates, exactly as issued");
  } else {
    KM_FUZZ_CHECK(p.status().code() == ErrorCode::kUnauthenticated, "a bad header is 401");
  }
  return 0;
}

int fuzz_mainhttp(const uint8_t* data, size_t size) {
  std::string_view buf = as_view(data, size);
  constexpr size_t kMaxHead = 2048, kMaxBody = 1024;
  for (int n = 0; n < 64 && !buf.empty(); ++n) {
    httplib::Request req;
    size_t used = 0;
    const Status st = api::parse_http_request(buf, kMaxHead, kMaxBody, req, used);
    if (!st.ok()) {
      static const std::set<std::string> kReasons = {"incomplete", "header_too_large", "payload_too_large", "bad_request"};
      KM_FUZZ_CHECK(kReasons.count(std::string(st.reason())) == 1, "a refusal is one of the listener's reasons");
      break;
    }
    KM_FUZZ_CHECK(used > 0 && used <= buf.size(), "a request lies within the input");
    KM_FUZZ_CHECK(!req.method.empty(), "a method");
    KM_FUZZ_CHECK(!req.path.empty() && req.path.front() == '/', "an origin-form path");
    KM_FUZZ_CHECK(req.path.find('\0') == std::string::npos, "decoded paths hold no NUL");
    KM_FUZZ_CHECK(req.body.size() <= kMaxBody, "the body is within the limit");
    buf.remove_prefix(used);
  }
  return 0;
}

int fuzz_http(const uint8_t* data, size_t size) {
  TokenEnv& env = token_env();
  std::string_view buf = as_view(data, size);
  for (int n = 0; n < 64 && !buf.empty(); ++n) {
    api::RequestHead head;
    const api::ParseStatus st = api::parse_request_head(buf, head, 8192);
    if (st == api::ParseStatus::kIncomplete) {
      KM_FUZZ_CHECK(buf.size() < 8192, "incomplete only below the head limit");
      break;
    }
    if (st != api::ParseStatus::kOk) break;
    KM_FUZZ_CHECK(head.length > 0 && head.length <= buf.size(), "a parsed head lies within the buffer");
    KM_FUZZ_CHECK(!head.method.empty() && !head.target.empty(), "method and target are present");
    if (auto path = api::decode_target_path(head.target)) {
      KM_FUZZ_CHECK(path->find('\0') == std::string::npos, "decoded paths hold no NUL");
    }
    bool keep = true;
    const std::string resp = api::respond(*env.keys, head, keep);
    KM_FUZZ_CHECK(resp.rfind("HTTP/1.1 ", 0) == 0, "a status line");
    const size_t end = resp.find("\r\n\r\n");
    KM_FUZZ_CHECK(end != std::string::npos, "a complete head");
    const std::string body = resp.substr(end + 4);
    const size_t cl = resp.find("Content-Length: ");
    if (cl != std::string::npos && cl < end && head.method != "HEAD") {
      KM_FUZZ_CHECK(std::stoul(resp.substr(cl + 16)) == body.size(), "Content-Length matches the body");
    }
    if (head.has_body) KM_FUZZ_CHECK(!keep && resp.rfind("HTTP/1.1 4", 0) == 0, "a body is refused and closes");
    if (resp.rfind("HTTP/1.1 405", 0) == 0) KM_FUZZ_CHECK(resp.find("\r\nAllow: GET, HEAD\r\n") < end, "405 has Allow");
    if (!head.keep_alive) KM_FUZZ_CHECK(!keep, "close is honoured");
    if (resp.rfind("HTTP/1.1 200", 0) == 0 && resp.find("application/jwk-set+json") != std::string::npos &&
        head.method == "GET") {
      bool one_of_ours = false;
      for (const auto& ks : env.keys->keysets()) one_of_ours = one_of_ours || ks->jwks == body;
      KM_FUZZ_CHECK(one_of_ours, "a served JWKS is a keyset's published document");
    }
    buf.remove_prefix(head.length);
    if (!keep) break;
  }
  return 0;
}

int fuzz_ledgerenc(const uint8_t* data, size_t size) {
  const std::string_view in = as_view(data, size);
  auto e = db::ledger_decode_canonical(in);
  if (e.ok()) {
    KM_FUZZ_CHECK(db::ledger_canonical_encoding(*e) == in, "an accepted encoding re-encodes to itself");
  } else {
    KM_FUZZ_CHECK(e.status().reason() == "ledger_encoding_malformed", "malformed input has one reason");
  }
  db::LedgerEntry made;
  made.seq = static_cast<int64_t>(size) - 3;
  made.ts_ms = -static_cast<int64_t>(size);
  made.sub = std::string(in);
  made.detail = std::string(in.substr(in.size() / 2));
  made.exp = static_cast<int64_t>(0x8000000000000000ull >> (size % 64));
  const std::string enc = db::ledger_canonical_encoding(made);
  auto back = db::ledger_decode_canonical(enc);
  KM_FUZZ_CHECK(back.ok() && back->seq == made.seq && back->ts_ms == made.ts_ms && back->sub == made.sub &&
                    back->detail == made.detail && back->exp == made.exp && db::ledger_canonical_encoding(*back) == enc,
                "encode/decode round trip");
  return 0;
}

int fuzz_alerts(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in = as_view(data + 1, size - 1);
  switch (data[0]) {
    case 'W': {
      auto u = parse_webhook_url(in);
      if (!u.ok()) {
        KM_FUZZ_CHECK(u.status().reason() == "bad_webhook", "a webhook URL refusal has another reason");
        return 0;
      }
      KM_FUZZ_CHECK(in.starts_with("http://") || in.starts_with("https://"), "a webhook URL without http(s)");
      KM_FUZZ_CHECK(!u->path.empty() && u->path[0] == '/', "a webhook path not starting with '/'");
      const std::string joined = u->scheme_host_port + (in.size() == u->scheme_host_port.size() ? "" : u->path);
      KM_FUZZ_CHECK(joined == in, "webhook URL parts do not re-join to the input");
      KM_FUZZ_CHECK(u->scheme_host_port.find('@') == std::string::npos, "user info accepted in a webhook URL");
      for (char c : in) {
        const auto b = static_cast<unsigned char>(c);
        KM_FUZZ_CHECK(b > 0x20 && b < 0x7f && c != '?' && c != '#', "a control byte, query or fragment accepted");
      }
      const size_t host_at = in.starts_with("https://") ? 8 : 7;
      KM_FUZZ_CHECK(u->scheme_host_port.size() > host_at, "a webhook URL without a host");
      return 0;
    }
    case 'C': {
      auto c = db::parse_alert_cursor(in);
      if (!c.ok()) {
        KM_FUZZ_CHECK(c.status().reason() == "bad_cursor", "a cursor refusal has another reason");
        return 0;
      }
      db::AlertRecord a;
      a.ts_ms = c->first;
      a.id = c->second;
      KM_FUZZ_CHECK(db::alert_cursor(a) == in, "an accepted alert cursor does not render back");
      return 0;
    }
    case 'N': {
      if (valid_sink_name(in)) {
        KM_FUZZ_CHECK(!in.empty() && in.size() <= 64, "a sink name of a bad length accepted");
        for (char c : in) KM_FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-',
                                        "a sink name with a bad character accepted");
      }
      return 0;
    }
    default: return 0;
  }
}

int fuzz_dburl(const uint8_t* data, size_t size) {
  quiet_logs();
  const std::string url(as_view(data, size));
  if (url.find('\0') != std::string::npos) return 0;  // not expressible in a C string / TOML value
  const std::string red = db::redact_database_url(url);
  char* err = nullptr;
  // keymgr takes only URLs (database.url refuses anything else); libpq's key=value form is out of scope.
  PQconninfoOption* opts = db::is_postgresql_url(url) ? PQconninfoParse(url.c_str(), &err) : nullptr;
  if (err != nullptr) PQfreemem(err);
  if (opts != nullptr) {
    for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
      if (std::string_view(o->keyword) != "password" || o->val == nullptr) continue;
      const std::string pw = o->val;
      // A password that appears verbatim once in the URL (not percent-encoded, not part of some
      // other field) must be gone; shorter ones may coincide with other text.
      // A password with '*' in it can coincide with the "***" marker plus its neighbours (user
      // "...p", password "p:***" redacts to "...p:***@"); the parse of the redacted URL below
      // covers those.
      const size_t first = url.find(pw);
      if (pw.size() >= 4 && pw.find('*') == std::string::npos && first != std::string::npos &&
          url.find(pw, first + 1) == std::string::npos) {
        KM_FUZZ_CHECK(red.find(pw) == std::string::npos, "a URL's password survives redaction");
      }
    }
    PQconninfoFree(opts);
    // libpq reads no password out of the redacted URL but the marker.
    char* red_err = nullptr;
    PQconninfoOption* red_opts = PQconninfoParse(red.c_str(), &red_err);
    if (red_err != nullptr) PQfreemem(red_err);
    if (red_opts != nullptr) {
      for (PQconninfoOption* o = red_opts; o->keyword != nullptr; ++o) {
        if (std::string_view(o->keyword) != "password" || o->val == nullptr) continue;
        KM_FUZZ_CHECK(std::string_view(o->val) == "***", "the redacted URL still carries a password");
      }
      PQconninfoFree(red_opts);
    }
  }
  // As database.url in a config file (TOML basic string: escape what TOML needs).
  std::string esc;
  for (char ch : url) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      esc += '\\';
      esc += ch;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      esc += buf;
    } else {
      esc += ch;
    }
  }
  auto c = cli::parse_config("[database]\nurl = \"" + esc + "\"\n", "fuzz.toml");
  // An empty url means "not set" (SQLite); anything else must be a PostgreSQL URL.
  if (c.ok()) {
    KM_FUZZ_CHECK(c->db_url.empty() || db::is_postgresql_url(c->db_url),
                  "database.url accepted only for PostgreSQL URLs");
  }
  return 0;
}

const std::vector<Target>& targets() {
  static const std::vector<Target> kTargets = {
      {"json", fuzz_json},     {"claims", fuzz_claims}, {"verify", fuzz_verify}, {"base64url", fuzz_base64url},
      {"jwk", fuzz_jwk},       {"policy", fuzz_policy}, {"config", fuzz_config}, {"auth", fuzz_auth},
      {"http", fuzz_http},     {"note", fuzz_note},     {"checkpoint", fuzz_checkpoint}, {"tlogproof", fuzz_tlogproof},
      {"ledgerenc", fuzz_ledgerenc}, {"dburl", fuzz_dburl}, {"mainhttp", fuzz_mainhttp}, {"alerts", fuzz_alerts},
  };
  return kTargets;
}

}  // namespace keymgr::fuzz
