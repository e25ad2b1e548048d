// Key-usage monitoring end to end (issue 15): an in-process keymgr on a real SoftHSM2 token and a
// real SQLite file, real HTTP on 127.0.0.1, and a webhook receiver in the test (cpp-httplib) that
// can be down, slow or failing. Each detector is triggered through the HTTP API; the test asserts
// the alert, its evidence, its ledger record and its signed delivery.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <sqlite3.h>
#include <sys/stat.h>

#include "cli/app.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/types.h"
#include "tests/api/app_env.h"
#include "tests/support/pkcs11_fault.h"
#include "tests/support/softhsm_token.h"

namespace keymgr::testing {
namespace {
using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kSecret[] = "webhook-secret-for-tests";

// A webhook receiver: records every POST (body, signature, alert id) and answers as told.
class Receiver {
 public:
  enum class Mode { kOk, kFail500, kSlow };

  Receiver() {
    // One worker: Debian's libcpp-httplib 0.11 shows a TSan data race between two server workers
    // inside the library (no keymgr code on either stack); the receiver needs no parallelism.
    server_.new_task_queue = [] { return new httplib::ThreadPool(1); };
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      Mode m;
      {
        std::lock_guard lk(mu_);
        m = mode_;
        posts_.push_back({req.body, req.get_header_value("X-Keymgr-Signature"),
                          req.get_header_value("X-Keymgr-Alert-Id"), m});
      }
      if (m == Mode::kSlow) std::this_thread::sleep_for(1500ms);
      res.status = m == Mode::kFail500 ? 500 : 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
  }
  ~Receiver() { stop(); }
  void start() {
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(5ms);
  }
  void stop() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }
  void set_mode(Mode m) {
    std::lock_guard lk(mu_);
    mode_ = m;
  }
  struct Post {
    std::string body, signature, alert_id;
    Mode mode;
  };
  std::vector<Post> posts() {
    std::lock_guard lk(mu_);
    return posts_;
  }
  // Alert ids the receiver answered 2xx for (what a de-duplicating receiver keeps).
  std::set<std::string> accepted_ids() {
    std::set<std::string> out;
    for (const auto& p : posts()) {
      if (p.mode != Mode::kFail500) out.insert(p.alert_id);
    }
    return out;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  Mode mode_ = Mode::kOk;
  std::vector<Post> posts_;
};

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds limit = 20s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

class MonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(token_.ok()) << token_.error();
    dir_ = make_temp_dir("km-monitor");
    secret_file_ = dir_ + "/hook.secret";
    std::ofstream(secret_file_) << kSecret << "\n";
    ::chmod(secret_file_.c_str(), 0600);
  }
  void TearDown() override {
    app_.reset();
    remove_tree(dir_);
  }

  cli::Config config(int hook_port) {
    cli::Config cfg = test_config(dir_);
    cfg.monitor.unknown_kid_threshold = 5;
    cfg.monitor.refusal_threshold = 3;
    cfg.monitor.retry_initial = 50ms;
    cfg.monitor.retry_max = 400ms;
    cfg.monitor.poll = 50ms;
    cfg.monitor.claim = 3s;
    if (hook_port > 0) {
      WebhookSink w;
      w.name = "ops-hook";
      w.url = "http://127.0.0.1:" + std::to_string(hook_port) + "/hook";
      w.secret_file = secret_file_;
      w.timeout = 1s;
      cfg.monitor.webhooks.push_back(w);
    }
    return cfg;
  }

  void start(int hook_port) { ASSERT_NO_FATAL_FAILURE(start(config(hook_port))); }
  // Starts the App with `cfg` (on clock_ when the test made one) and makes the role tokens.
  void start(const cli::Config& cfg) {
    cfg_ = cfg;
    ASSERT_NO_FATAL_FAILURE(start_test_app(token_, cfg, app_, {}, clock_.get()));
    base_ = "http://127.0.0.1:" + std::to_string(app_->port());
    ops_ = api_token(*app_, "ops", api::Role::kOps);
    auditor_ = api_token(*app_, "auditor", api::Role::kAuditor);
    verifier_ = api_token(*app_, "rp-logs", api::Role::kVerifier);
  }
  // Stops the App and starts it again on the same database, token and clock (the API tokens made
  // before stay valid: they are in the database).
  void restart() {
    app_.reset();
    ASSERT_NO_FATAL_FAILURE(start_test_app(token_, cfg_, app_, {}, clock_.get()));
    base_ = "http://127.0.0.1:" + std::to_string(app_->port());
  }

  httplib::Result call(const std::string& method, const std::string& path, const std::string& tok,
                       const std::string& body = "") {
    httplib::Client c(base_);
    c.set_read_timeout(30);
    httplib::Headers h;
    if (!tok.empty()) h.emplace("Authorization", "Bearer " + tok);
    if (method == "GET") return c.Get(path, h);
    if (method == "PATCH") return c.Patch(path, h, body, "application/json");
    return c.Post(path, h, body, "application/json");
  }

  json ok_json(const std::string& method, const std::string& path, const std::string& tok, const std::string& body = "",
               int want = 200) {
    auto r = call(method, path, tok, body);
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_EQ(r->status, want) << method << " " << path << ": " << r->body;
    return json::parse(r->body, nullptr, false);
  }

  void create_keyset(const std::string& name) {
    json body = {{"name", name}, {"issuer", base_ + "/" + name}, {"alg", "ES256"}};
    ok_json("POST", "/v1/keysets", ops_, body.dump(), 201);
  }

  // Signs with the keyset's one issuer token (made on first use: one caller, as in steady traffic).
  std::string sign(const std::string& keyset) { return sign_as(issuer_for(keyset), keyset); }
  std::string sign_as(const std::string& issuer, const std::string& keyset, const json& claims = {{"sub", "alice"}}) {
    json r = ok_json("POST", "/v1/keysets/" + keyset + "/sign", issuer, json{{"claims", claims}, {"ttl", 300}}.dump());
    return r.value("token", "");
  }
  const std::string& issuer_for(const std::string& keyset) {
    std::string& t = issuers_[keyset];
    if (t.empty()) t = api_token(*app_, "issuer-" + keyset, api::Role::kIssuer, {keyset});
    return t;
  }

  // A token made with keymgr's own key in the HSM, but not by keymgr: what an attacker holding the
  // key (or access to the HSM) produces. Valid signature, nothing in the ledger.
  std::string forge(const std::string& keyset, const std::string& sub = "mallory") {
    KeysetPtr ks = app_->keys().find_keyset(keyset);
    const Key* key = ks ? ks->active_key() : nullptr;
    if (key == nullptr) {
      ADD_FAILURE() << "no active key in " << keyset;
      return "";
    }
    const int64_t now = to_unix_seconds(app_->clock().now());
    json header = {{"alg", std::string(jws_alg(key->alg))}, {"kid", key->kid}, {"typ", "JWT"}};
    json payload = {{"iss", ks->issuer}, {"sub", sub}, {"iat", now}, {"nbf", now}, {"exp", now + 600}, {"jti", "forged-" + sub}};
    const std::string input = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
    auto sig = app_->hsm().sign(key->hsm_id, key->alg, input);
    EXPECT_TRUE(sig.ok()) << sig.status().to_string();
    return input + "." + (sig.ok() ? base64url_encode(*sig) : std::string("x"));
  }

  json alerts(const std::string& query = "") { return ok_json("GET", "/v1/alerts" + query, ops_); }

  // Ledger entries matching `query` (at most 1000, newest first).
  json ledger(const std::string& query) {
    return ok_json("GET", "/v1/audit/ledger?limit=1000&" + query, auditor_)["entries"];
  }

  SoftHsmToken token_;
  std::string dir_, secret_file_, base_, ops_, auditor_, verifier_;
  std::map<std::string, std::string> issuers_;  // keyset -> its issuer's bearer token
  cli::Config cfg_;
  std::unique_ptr<ManualClock> clock_;  // set before start() to drive the App's time
  std::unique_ptr<Pkcs11FaultInjector> faults_;  // outlives the App that uses its hook
  std::unique_ptr<cli::App> app_;
};

TEST_F(MonitorTest, AForgedTokenWithAGoodSignatureRaisesLeakSuspectedWithEvidenceLedgerRecordAndSignedWebhook) {
  Receiver rx;
  rx.start();
  ASSERT_NO_FATAL_FAILURE(start(rx.port()));
  create_keyset("web");
  const std::string genuine = sign("web");
  ASSERT_FALSE(genuine.empty());
  // Normal traffic raises nothing.
  json v = ok_json("POST", "/v1/keysets/web/verify", verifier_, json{{"token", genuine}}.dump());
  EXPECT_TRUE(v["valid"].get<bool>()) << v.dump();
  EXPECT_TRUE(alerts()["alerts"].empty());

  const std::string forged = forge("web");
  v = ok_json("POST", "/v1/keysets/web/verify", verifier_, json{{"token", forged}}.dump());
  EXPECT_FALSE(v["valid"].get<bool>());
  json list = alerts();
  ASSERT_EQ(list["alerts"].size(), 1u) << list.dump();
  const json a = list["alerts"][0];
  EXPECT_EQ(a["kind"], "leak_suspected");
  EXPECT_EQ(a["severity"], "critical");
  EXPECT_EQ(a["keyset"], "web");
  EXPECT_EQ(a["kid"], app_->keys().find_keyset("web")->active_key()->kid);
  EXPECT_EQ(a["evidence"]["why"], "not_in_ledger");
  EXPECT_EQ(a["evidence"]["token_sha256"], hex_encode(sha256(forged)));
  EXPECT_EQ(a["evidence"]["source"], "verify");
  EXPECT_NE(a["evidence"]["presented_by"].get<std::string>().find("rp-logs"), std::string::npos);
  EXPECT_FALSE(a["acknowledged"].get<bool>());

  // The evidence is in the ledger, as an entry of kind "alert" carrying the token's hash.
  json ledger = ok_json("GET", "/v1/audit/ledger?kind=alert", auditor_);
  ASSERT_EQ(ledger["entries"].size(), 1u) << ledger.dump();
  EXPECT_EQ(ledger["entries"][0]["event"], "leak_suspected");
  EXPECT_EQ(ledger["entries"][0]["token_sha256"], hex_encode(sha256(forged)));

  // Delivered to the webhook, signed with HMAC-SHA256 over the exact body.
  ASSERT_TRUE(wait_for([&] { return !rx.posts().empty(); })) << "no webhook delivery";
  const auto p = rx.posts()[0];
  EXPECT_EQ(p.alert_id, a["id"]);
  EXPECT_EQ(p.signature, "sha256=" + hex_encode(hmac_sha256(kSecret, p.body)));
  EXPECT_NE(p.signature, "sha256=" + hex_encode(hmac_sha256("another secret", p.body)));
  json body = json::parse(p.body);
  EXPECT_EQ(body["id"], a["id"]);
  EXPECT_EQ(body["kind"], "leak_suspected");
  EXPECT_EQ(body["evidence"]["token_sha256"], hex_encode(sha256(forged)));
  json detail;
  ASSERT_TRUE(wait_for([&] {
    detail = ok_json("GET", "/v1/alerts/" + a["id"].get<std::string>(), auditor_);
    return detail["deliveries"].size() == 1 && detail["deliveries"][0]["delivered"].get<bool>();
  })) << detail.dump();

  // The same forged token again, and a second one: one alert (per key and day), counted.
  ok_json("POST", "/v1/keysets/web/verify", verifier_, json{{"token", forged}}.dump());
  ok_json("POST", "/v1/keysets/web/verify", verifier_, json{{"token", forge("web", "eve")}}.dump());
  list = alerts();
  ASSERT_EQ(list["alerts"].size(), 1u);
  EXPECT_EQ(list["alerts"][0]["occurrences"], 3);
  EXPECT_EQ(ok_json("GET", "/v1/audit/ledger?kind=alert", auditor_)["entries"].size(), 3u);

  auto m = call("GET", "/metrics", "");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("keymgr_alerts_total{kind=\"leak_suspected\",severity=\"critical\"} 1"), std::string::npos);
  EXPECT_NE(m->body.find("keymgr_alerts_open{severity=\"critical\"} 1"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("keymgr_alert_deliveries_pending 0"), std::string::npos);
}

TEST_F(MonitorTest, ACompromisedKeysForgeriesAreAlertedItsGenuineTokensAreNotAndAcknowledgementNeedsOpsAndAReason) {
  ASSERT_NO_FATAL_FAILURE(start(0));
  create_keyset("web");
  const std::string genuine = sign("web");
  const std::string forged = forge("web");  // made before the compromise was noticed
  const std::string kid = app_->keys().find_keyset("web")->active_key()->kid;
  ok_json("POST", "/v1/keysets/web/keys/" + kid + "/compromise", ops_,
          json{{"reason", "key material found on a laptop"}}.dump());
  // A genuine token of the compromised key fails verification (key_state) but is no leak signal.
  json v = ok_json("POST", "/v1/keysets/web/verify", verifier_, json{{"token", genuine}}.dump());
  EXPECT_FALSE(v["valid"].get<bool>());
  EXPECT_TRUE(alerts()["alerts"].empty()) << alerts().dump();
  // A forgery with it is, and the evidence says the key's state.
  v = ok_json("POST", "/v1/keysets/web/verify", verifier_, json{{"token", forged}}.dump());
  EXPECT_FALSE(v["valid"].get<bool>());
  json list = alerts("?severity=critical&state=open");
  ASSERT_EQ(list["alerts"].size(), 1u) << list.dump();
  const std::string id = list["alerts"][0]["id"];
  EXPECT_EQ(list["alerts"][0]["evidence"]["why"], "not_in_ledger");
  EXPECT_EQ(list["alerts"][0]["evidence"]["key_state"], "compromised");

  // Auditors and verifiers may not acknowledge; a reason is required; then it is recorded once.
  auto r = call("POST", "/v1/alerts/" + id + "/ack", auditor_, json{{"reason", "seen"}}.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << r->body;
  r = call("GET", "/v1/alerts", verifier_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << r->body;
  json e = ok_json("POST", "/v1/alerts/" + id + "/ack", ops_, json{{"reason", ""}}.dump(), 400);
  EXPECT_EQ(e["error"], "reason_required") << e.dump();
  e = ok_json("POST", "/v1/alerts/" + id + "/ack", ops_, json{{"reason", "rotated; see INC-42"}}.dump());
  EXPECT_TRUE(e["acknowledged"].get<bool>());
  EXPECT_EQ(e["acknowledgement"]["reason"], "rotated; see INC-42");
  EXPECT_NE(e["acknowledgement"]["by"].get<std::string>().find("ops"), std::string::npos);
  e = ok_json("POST", "/v1/alerts/" + id + "/ack", ops_, json{{"reason", "again"}}.dump(), 409);
  EXPECT_EQ(e["error"], "already_acknowledged");
  e = ok_json("POST", "/v1/alerts/leak_suspected-000000000000000000000000/ack", ops_, json{{"reason", "x"}}.dump(), 404);
  EXPECT_EQ(e["error"], "alert_not_found");
  EXPECT_TRUE(alerts("?state=open")["alerts"].empty());
  EXPECT_EQ(alerts("?state=acknowledged")["alerts"].size(), 1u);
  json ledger = ok_json("GET", "/v1/audit/ledger?kind=alert", auditor_);
  bool acked = false;
  for (const auto& en : ledger["entries"]) acked = acked || en["event"] == "alert_acknowledged";
  EXPECT_TRUE(acked) << ledger.dump();
  e = ok_json("GET", "/v1/alerts?state=maybe", ops_, "", 400);
  EXPECT_EQ(e["error"], "bad_query");
  e = ok_json("GET", "/v1/alerts?cursor=1:a'b", ops_, "", 400);
  EXPECT_EQ(e["error"], "bad_cursor");
}

TEST_F(MonitorTest, BulkCheckReportsEachTokenAndFeedsTheLeakDetector) {
  ASSERT_NO_FATAL_FAILURE(start(0));
  create_keyset("web");
  create_keyset("api");
  const std::string genuine = sign("web");
  const std::string forged = forge("web");
  std::string tampered = genuine;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  const std::string other_keyset = sign("api");
  json body = {{"tokens", {genuine, forged, tampered, other_keyset, "not-a-jws", 42}}};
  json r = ok_json("POST", "/v1/keysets/web/check", verifier_, body.dump());
  ASSERT_EQ(r["results"].size(), 6u) << r.dump();
  EXPECT_EQ(r["results"][0]["verdict"], "genuine");
  EXPECT_TRUE(r["results"][0]["ledger_seq"].is_number());
  EXPECT_EQ(r["results"][1]["verdict"], "forged");
  EXPECT_EQ(r["results"][2]["verdict"], "tampered");
  EXPECT_EQ(r["results"][3]["verdict"], "unknown_key");
  EXPECT_EQ(r["results"][4]["verdict"], "malformed");
  EXPECT_EQ(r["results"][5]["verdict"], "malformed");
  EXPECT_EQ(r["summary"]["genuine"], 1);
  EXPECT_EQ(r["summary"]["forged"], 1);
  json list = alerts();
  ASSERT_EQ(list["alerts"].size(), 1u) << list.dump();
  EXPECT_EQ(list["alerts"][0]["kind"], "leak_suspected");
  EXPECT_EQ(list["alerts"][0]["evidence"]["source"], "check");

  // Limits and roles.
  json many = {{"tokens", json::array()}};
  for (int i = 0; i < 1001; ++i) many["tokens"].push_back("a.b.c");
  json e = ok_json("POST", "/v1/keysets/web/check", verifier_, many.dump(), 400);
  EXPECT_TRUE(e.is_discarded() || e["error"] == "too_many_tokens" || e["error"] == "payload_too_large")
      << e.dump();
  e = ok_json("POST", "/v1/keysets/web/check", verifier_, json{{"tokens", "x"}}.dump(), 400);
  EXPECT_EQ(e["error"], "bad_request");
  e = ok_json("POST", "/v1/keysets/nope/check", verifier_, json{{"tokens", json::array()}}.dump(), 404);
  EXPECT_EQ(e["error"], "keyset_not_found");
  const std::string issuer = api_token(*app_, "iss", api::Role::kIssuer, {"web"});
  auto rr = call("POST", "/v1/keysets/web/check", issuer, json{{"tokens", json::array()}}.dump());
  ASSERT_TRUE(rr);
  EXPECT_EQ(rr->status, 403);
}

TEST_F(MonitorTest, ProbingWithUnknownKidsAndRefusedSigningAreAlertedAtTheirThresholds) {
  ASSERT_NO_FATAL_FAILURE(start(0));
  create_keyset("web");
  create_keyset("api");
  const std::string genuine = sign("web");
  const std::string payload = genuine.substr(genuine.find('.'));
  for (int i = 0; i < 4; ++i) {
    const std::string header = base64url_encode(json{{"alg", "ES256"}, {"kid", "probe-" + std::to_string(i)}}.dump());
    ok_json("POST", "/v1/keysets/web/verify", verifier_, json{{"token", header + payload}}.dump());
  }
  EXPECT_TRUE(alerts("?kind=unknown_kid_probe")["alerts"].empty()) << "below the threshold (5)";
  const std::string header = base64url_encode(json{{"alg", "ES256"}, {"kid", "probe-last"}}.dump());
  ok_json("POST", "/v1/keysets/web/verify", verifier_, json{{"token", header + payload}}.dump());
  json list = alerts("?kind=unknown_kid_probe");
  ASSERT_EQ(list["alerts"].size(), 1u) << list.dump();
  EXPECT_EQ(list["alerts"][0]["severity"], "warning");
  EXPECT_EQ(list["alerts"][0]["evidence"]["count"], 5);
  EXPECT_EQ(list["alerts"][0]["evidence"]["last_kid"], "probe-last");

  // An issuer bound to "api" trying to sign for "web": refused each time, alerted at 3.
  const std::string wrong = api_token(*app_, "wrong-issuer", api::Role::kIssuer, {"api"});
  for (int i = 0; i < 3; ++i) {
    ok_json("POST", "/v1/keysets/web/sign", wrong, json{{"claims", {{"sub", "x"}}}}.dump(), 403);
  }
  list = alerts("?kind=signing_outside_policy");
  ASSERT_EQ(list["alerts"].size(), 1u) << list.dump();
  EXPECT_EQ(list["alerts"][0]["keyset"], "web");
  EXPECT_EQ(list["alerts"][0]["evidence"]["last_reason"], "issuer_not_bound");
  EXPECT_NE(list["alerts"][0]["evidence"]["last_actor"].get<std::string>().find("wrong-issuer"), std::string::npos);
  // Bad input is not a policy violation.
  const std::string good = api_token(*app_, "good-issuer", api::Role::kIssuer, {"api"});
  for (int i = 0; i < 4; ++i) {
    ok_json("POST", "/v1/keysets/api/sign", good, json{{"claims", {{"iat", 1}}}}.dump(), 400);
  }
  EXPECT_TRUE(alerts("?keyset=api")["alerts"].empty());
}

TEST_F(MonitorTest, WebhookDownFailingSlowThenBackGetsEveryAlertAndAlertsSurviveARestart) {
  // Bound but not accepting yet: connections wait in the backlog and time out (a hung receiver).
  Receiver rx;
  ASSERT_NO_FATAL_FAILURE(start(rx.port()));
  for (const char* ks : {"k1", "k2", "k3"}) create_keyset(ks);
  for (const char* ks : {"k1", "k2"}) ok_json("POST", std::string("/v1/keysets/") + ks + "/verify", verifier_,
                                              json{{"token", forge(ks)}}.dump());
  std::set<std::string> ids;
  json listed = alerts();
  for (const auto& a : listed["alerts"]) ids.insert(a["id"].get<std::string>());
  ASSERT_EQ(ids.size(), 2u);
  const std::set<std::string> before_restart = ids;
  // Down: attempts fail and are retried with backoff; nothing is lost.
  ASSERT_TRUE(wait_for([&] {
    json d = ok_json("GET", "/v1/alerts/" + *ids.begin(), ops_);
    return d["deliveries"][0]["attempts"].get<int>() >= 2;
  }));
  rx.set_mode(Receiver::Mode::kFail500);
  rx.start();
  ASSERT_TRUE(wait_for([&] { return rx.posts().size() >= 2; }));
  rx.set_mode(Receiver::Mode::kSlow);  // answers after the client's 1 s timeout
  ASSERT_TRUE(wait_for([&] {
    for (const auto& p : rx.posts()) {
      if (p.mode == Receiver::Mode::kSlow) return true;
    }
    return false;
  }));
  // Restart keymgr while the alerts are undelivered (as far as it knows): the outbox is durable.
  app_.reset();
  rx.set_mode(Receiver::Mode::kOk);
  ASSERT_NO_FATAL_FAILURE(start_test_app(token_, config(rx.port()), app_));
  base_ = "http://127.0.0.1:" + std::to_string(app_->port());
  ok_json("POST", "/v1/keysets/k3/verify", verifier_, json{{"token", forge("k3")}}.dump());
  listed = alerts();
  for (const auto& a : listed["alerts"]) ids.insert(a["id"].get<std::string>());
  ASSERT_EQ(ids.size(), 3u);
  ASSERT_TRUE(wait_for([&] {
    for (const auto& id : ids) {
      json d = ok_json("GET", "/v1/alerts/" + id, ops_);
      if (!d["deliveries"][0]["delivered"].get<bool>()) return false;
    }
    return true;
  })) << "every alert is delivered once the receiver answers";
  EXPECT_EQ(rx.accepted_ids(), ids) << "each alert reaches a de-duplicating receiver once by id";
  for (const auto& p : rx.posts()) {
    EXPECT_EQ(p.signature, "sha256=" + hex_encode(hmac_sha256(kSecret, p.body)));
    EXPECT_EQ(json::parse(p.body)["id"], p.alert_id);
  }
  for (const auto& id : before_restart) {
    json d = ok_json("GET", "/v1/alerts/" + id, ops_);
    EXPECT_GE(d["deliveries"][0]["attempts"].get<int>(), 3) << d.dump();
  }
  auto m = call("GET", "/metrics", "");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("keymgr_alert_deliveries_pending 0"), std::string::npos) << m->body;
}

TEST_F(MonitorTest, SigningRateLimitsAnswer429WithRetryAfterAreRecordedAndNeverLetMoreThrough) {
  ASSERT_NO_FATAL_FAILURE(start(0));
  create_keyset("web");
  create_keyset("api");
  json p = ok_json("PATCH", "/v1/keysets/web", ops_, json{{"policy", {{"sign_rate", 5}, {"sign_burst", 10}}}}.dump(), 200);
  EXPECT_EQ(p["policy"]["sign_rate"], 5) << p.dump();
  json e = ok_json("PATCH", "/v1/keysets/web", ops_, json{{"policy", {{"sign_rate", "5"}}}}.dump(), 400);
  EXPECT_EQ(e["error"], "bad_policy");
  const std::string issuer = api_token(*app_, "busy-issuer", api::Role::kIssuer, {"web", "api"});
  std::atomic<int> ok{0}, limited{0}, other{0};
  std::mutex mu;
  std::string bad_answer;
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < 6; ++c) {
    clients.emplace_back([&] {
      httplib::Client cl(base_);
      cl.set_read_timeout(30);
      for (int i = 0; i < 10; ++i) {
        auto r = cl.Post("/v1/keysets/web/sign", httplib::Headers{{"Authorization", "Bearer " + issuer}},
                         json{{"claims", {{"sub", "x"}}}}.dump(), "application/json");
        if (r && r->status == 200) {
          ++ok;
        } else if (r && r->status == 429 && r->get_header_value("Retry-After") == "1" &&
                   json::parse(r->body, nullptr, false).value("error", "") == "rate_limited") {
          ++limited;
        } else {
          ++other;
          std::lock_guard lk(mu);
          bad_answer = r ? std::to_string(r->status) + " " + r->body : "no answer";
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(other.load(), 0) << bad_answer;
  EXPECT_GE(ok.load(), 10) << "the burst is granted";
  EXPECT_LE(ok.load(), 10 + static_cast<int>(5 * elapsed) + 1) << "never more than burst + rate x time (" << elapsed << " s)";
  EXPECT_GT(limited.load(), 0);
  // Every refusal is in the ledger as refused, with its reason.
  json refused = ok_json("GET", "/v1/audit/ledger?keyset=web&outcome=refused&limit=1000", auditor_);
  int recorded = 0;
  for (const auto& en : refused["entries"]) recorded += en["reason"] == "rate_limited" ? 1 : 0;
  EXPECT_EQ(recorded, limited.load());
  // Another keyset is not limited by this one's policy.
  for (int i = 0; i < 12; ++i) ok_json("POST", "/v1/keysets/api/sign", issuer, json{{"claims", {{"sub", "y"}}}}.dump());
  // Rate-limited refusals are not "outside policy" alerts.
  EXPECT_TRUE(alerts("?kind=signing_outside_policy")["alerts"].empty());
}

TEST_F(MonitorTest, APerApiTokenLimitAppliesToEachTokenSeparately) {
  cli::Config cfg = config(0);
  cfg.limits.token_sign_rate = 1;
  cfg.limits.token_sign_burst = 3;
  ASSERT_NO_FATAL_FAILURE(start_test_app(token_, cfg, app_));
  base_ = "http://127.0.0.1:" + std::to_string(app_->port());
  ops_ = api_token(*app_, "ops", api::Role::kOps);
  create_keyset("web");
  const std::string a = api_token(*app_, "issuer-a", api::Role::kIssuer, {"web"});
  const std::string b = api_token(*app_, "issuer-b", api::Role::kIssuer, {"web"});
  int ok_a = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = call("POST", "/v1/keysets/web/sign", a, json{{"claims", {{"sub", "x"}}}}.dump());
    ASSERT_TRUE(r);
    if (r->status == 200) ++ok_a;
    else EXPECT_EQ(r->status, 429) << r->body;
  }
  EXPECT_GE(ok_a, 3);
  EXPECT_LE(ok_a, 4);  // the burst, and at most one refilled if a second passed
  for (int i = 0; i < 3; ++i) ok_json("POST", "/v1/keysets/web/sign", b, json{{"claims", {{"sub", "x"}}}}.dump());
}

TEST_F(MonitorTest, AWebhookSecretFileThatCannotBeReadStopsStartUp) {
  cli::Config cfg = config(1);
  cfg.monitor.webhooks[0].secret_file = dir_ + "/missing.secret";
  auto app = open_test_app(token_, cfg);
  ASSERT_FALSE(app.ok());
  EXPECT_NE(app.status().to_string().find("ops-hook"), std::string::npos) << app.status().to_string();
  EXPECT_EQ(app.status().to_string().find(kSecret), std::string::npos);
}


// ---- key usage (policy.max_signatures) ----

TEST_F(MonitorTest, UsageLimitHoldsExactlyUnderConcurrentHttpSigningAndTheCountsSurviveARestart) {
  constexpr int kLimit = 40;
  constexpr int kClients = 6;
  constexpr int kPerClient = 3 * kLimit / kClients;
  ASSERT_NO_FATAL_FAILURE(start(0));
  create_keyset("hot");
  json p = ok_json("PATCH", "/v1/keysets/hot", ops_, json{{"policy", {{"max_signatures", kLimit}}}}.dump());
  ASSERT_EQ(p["policy"]["max_signatures"], kLimit) << p.dump();
  json e = ok_json("PATCH", "/v1/keysets/hot", ops_, json{{"policy", {{"max_signatures", -1}}}}.dump(), 400);
  EXPECT_EQ(e["error"], "bad_policy");
  const std::string first_kid = app_->keys().find_keyset("hot")->active_key()->kid;
  const std::string issuer = issuer_for("hot");

  std::atomic<int> ok{0}, retried{0}, failed{0};
  std::mutex mu;
  std::map<std::string, int> signed_by;  // kid -> tokens the clients received
  std::set<std::string> retry_reasons;
  std::string bad_answer;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      httplib::Client cl(base_);
      cl.set_read_timeout(60);
      for (int i = 0; i < kPerClient; ++i) {
        bool done = false;
        // A 503 is retryable (the switch to the successor may be under way); anything else fails.
        for (int attempt = 0; attempt < 50 && !done; ++attempt) {
          auto r = cl.Post("/v1/keysets/hot/sign", httplib::Headers{{"Authorization", "Bearer " + issuer}},
                           json{{"claims", {{"sub", "load"}}}}.dump(), "application/json");
          if (r && r->status == 200) {
            ++ok;
            std::lock_guard lk(mu);
            ++signed_by[json::parse(r->body)["kid"].get<std::string>()];
            done = true;
          } else if (r && r->status == 503) {
            ++retried;
            {
              std::lock_guard lk(mu);
              retry_reasons.insert(json::parse(r->body, nullptr, false).value("error", "?"));
            }
            std::this_thread::sleep_for(50ms);
          } else {
            ++failed;
            std::lock_guard lk(mu);
            bad_answer = r ? std::to_string(r->status) + " " + r->body : "no answer";
            done = true;
          }
        }
        if (!done) ++failed;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0) << bad_answer;
  EXPECT_EQ(ok.load(), 3 * kLimit);
  if (retried.load() > 0) {
    std::string reasons;
    for (const auto& r : retry_reasons) reasons += r + " ";
    std::cout << "[ info ] " << retried.load() << " retryable 503s: " << reasons << "\n";
  }

  // The ledger: every key made at most kLimit signatures; every key that stopped made exactly kLimit.
  std::map<std::string, int> ledger_count;
  std::map<std::string, int64_t> ledger_last_ms;
  for (const auto& en : ledger("keyset=hot&kind=sign&outcome=ok")) {
    const std::string kid = en["kid"];
    ++ledger_count[kid];
    ledger_last_ms[kid] = std::max(ledger_last_ms[kid], en["ts_ms"].get<int64_t>());
  }
  EXPECT_EQ(ledger_count, signed_by) << "each token the clients got is in the ledger under its kid";
  const std::string active = app_->keys().find_keyset("hot")->active_key()->kid;
  int total = 0;
  for (const auto& [kid, n] : ledger_count) {
    total += n;
    EXPECT_LE(n, kLimit) << kid;
    if (kid != active) { EXPECT_EQ(n, kLimit) << kid << " stopped before its limit"; }
  }
  EXPECT_EQ(total, 3 * kLimit);
  ASSERT_GE(ledger_count.size(), 3u) << "the successors took over";
  EXPECT_EQ(ledger_count.count(first_kid), 1u);

  // Each exhausted key stopped by usage_limit, its successor took over by usage_limit, and the
  // signature beyond the limit is recorded as refused with the reason.
  std::set<std::string> deactivated, activated;
  for (const auto& en : ledger("keyset=hot")) {
    if (!en.contains("detail") || !en["detail"].is_object() || en["detail"].value("trigger", "") != "usage_limit") continue;
    if (en["event"] == "key_deactivated") deactivated.insert(en["kid"].get<std::string>());
    if (en["event"] == "key_activated") activated.insert(en["kid"].get<std::string>());
  }
  std::set<std::string> exhausted;
  for (const auto& [kid, n] : ledger_count) {
    if (kid != active) exhausted.insert(kid);
  }
  EXPECT_EQ(deactivated, exhausted);
  EXPECT_EQ(deactivated.count(active), 0u);
  std::set<std::string> refused_kids;
  for (const auto& en : ledger("keyset=hot&outcome=refused")) {
    EXPECT_EQ(en["reason"], "key_usage_exhausted") << en.dump();
    refused_kids.insert(en["kid"].get<std::string>());
  }
  EXPECT_EQ(refused_kids, exhausted) << "each exhausted key's next signature was refused and recorded";
  (void)activated;  // a successor that was pre-published is activated by usage_limit; a new one otherwise

  // The keyset's keys show the ledger's counts and their last signature, and so they do after a restart.
  auto check_keys = [&](const std::string& when) {
    json ks = ok_json("GET", "/v1/keysets/hot", ops_);
    int seen = 0;
    for (const auto& k : ks["keys"]) {
      const std::string kid = k["kid"];
      ASSERT_TRUE(k.contains("signatures")) << when << ": " << k.dump();
      EXPECT_EQ(k["signatures"].get<int>(), ledger_count.count(kid) ? ledger_count[kid] : 0) << when << " " << kid;
      if (ledger_count.count(kid)) {
        ++seen;
        ASSERT_TRUE(k.contains("last_signed_at")) << when << ": " << k.dump();
        EXPECT_EQ(k["last_signed_at"].get<int64_t>(), ledger_last_ms[kid] / 1000) << when << " " << kid;
      } else {
        EXPECT_FALSE(k.contains("last_signed_at")) << when << ": " << k.dump();
      }
    }
    EXPECT_EQ(seen, static_cast<int>(ledger_count.size())) << when << ": " << ks.dump();
  };
  ASSERT_NO_FATAL_FAILURE(check_keys("before restart"));
  ASSERT_NO_FATAL_FAILURE(restart());
  ASSERT_NO_FATAL_FAILURE(check_keys("after restart"));
  // The limit still counts from where it was: the active key signs only what it has left.
  const int left = kLimit - ledger_count[active];
  for (int i = 0; i < left; ++i) EXPECT_EQ(sign("hot").empty(), false);
  EXPECT_EQ(app_->keys().find_keyset("hot")->active_key()->kid, active);
  ASSERT_FALSE(sign("hot").empty());
  EXPECT_NE(app_->keys().find_keyset("hot")->active_key()->kid, active) << "the next signature switched keys";
  json ks = ok_json("GET", "/v1/keysets/hot", ops_);
  for (const auto& k : ks["keys"]) {
    if (k["kid"] == active) { EXPECT_EQ(k["signatures"], kLimit) << k.dump(); }
  }
}

// ---- unusual use: each detector through HTTP, on a clock the test drives ----

// Config for the detector tests: small thresholds, a webhook when hook_port > 0.
cli::Config detector_config(cli::Config cfg) {
  cfg.monitor.dormant_after = std::chrono::seconds(3600);
  cfg.monitor.learning_period = std::chrono::seconds(120);
  cfg.monitor.rate_factor = 3;
  cfg.monitor.rate_floor = 5;
  cfg.monitor.rate_warmup = std::chrono::seconds(180);
  return cfg;
}

TEST_F(MonitorTest, NormalTrafficRaisesNoUnusualUseAlert) {
  clock_ = std::make_unique<ManualClock>(SystemClock().now());
  ASSERT_NO_FATAL_FAILURE(start(detector_config(config(0))));
  create_keyset("web");
  // One API token, one audience, one address, a steady 4 per minute for 20 minutes: past the
  // learning period and the rate warm-up, never idle for dormant_after.
  for (int i = 0; i < 80; ++i) {
    ASSERT_FALSE(sign_as(issuer_for("web"), "web", {{"sub", "alice"}, {"aud", "svc-a"}}).empty());
    clock_->advance(15s);
  }
  json list = alerts();
  EXPECT_TRUE(list["alerts"].empty()) << list.dump();
  EXPECT_TRUE(ledger("kind=alert").empty());
}

TEST_F(MonitorTest, AKeyThatSignsAfterBeingDormantRaisesDormantKeyUsedWithEvidenceLedgerAndWebhook) {
  Receiver rx;
  rx.start();
  clock_ = std::make_unique<ManualClock>(SystemClock().now());
  ASSERT_NO_FATAL_FAILURE(start(detector_config(config(rx.port()))));
  create_keyset("web");
  ASSERT_FALSE(sign("web").empty());
  const std::string kid = app_->keys().find_keyset("web")->active_key()->kid;
  const int64_t first_ms = ledger("keyset=web&kind=sign&outcome=ok")[0]["ts_ms"];
  clock_->advance(30min);  // idle, but not long enough
  ASSERT_FALSE(sign("web").empty());
  EXPECT_TRUE(alerts("?kind=dormant_key_used")["alerts"].empty());
  const int64_t second_ms = to_unix_millis(clock_->now());
  clock_->advance(2h);
  ASSERT_FALSE(sign("web").empty());
  json list = alerts("?kind=dormant_key_used");
  ASSERT_EQ(list["alerts"].size(), 1u) << list.dump();
  const json a = list["alerts"][0];
  EXPECT_EQ(a["severity"], "warning");
  EXPECT_EQ(a["keyset"], "web");
  EXPECT_EQ(a["kid"], kid);
  EXPECT_EQ(a["evidence"]["idle_s"], 7200);
  EXPECT_EQ(a["evidence"]["previous_signature_ms"], second_ms);
  EXPECT_NE(a["evidence"]["previous_signature_ms"], first_ms);
  EXPECT_EQ(a["evidence"]["dormant_after_s"], 3600);
  EXPECT_NE(a["evidence"]["actor"].get<std::string>().find("issuer-web"), std::string::npos) << a.dump();
  // Signing on at once is no longer dormant.
  ASSERT_FALSE(sign("web").empty());
  EXPECT_EQ(alerts("?kind=dormant_key_used")["alerts"].size(), 1u);
  bool in_ledger = false;
  for (const auto& en : ledger("kind=alert")) in_ledger = in_ledger || en["event"] == "dormant_key_used";
  EXPECT_TRUE(in_ledger);
  ASSERT_TRUE(wait_for([&] {
    for (const auto& post : rx.posts()) {
      if (post.alert_id == a["id"]) return true;
    }
    return false;
  })) << "no webhook delivery";
  for (const auto& post : rx.posts()) {
    if (post.alert_id != a["id"]) continue;
    EXPECT_EQ(post.signature, "sha256=" + hex_encode(hmac_sha256(kSecret, post.body)));
    EXPECT_EQ(json::parse(post.body)["kind"], "dormant_key_used");
  }
  // After a restart the detector asks the ledger: a long idle key is still noticed.
  ASSERT_NO_FATAL_FAILURE(restart());
  clock_->advance(3h);
  ASSERT_FALSE(sign("web").empty());
  EXPECT_EQ(alerts("?kind=dormant_key_used")["alerts"].size(), 2u);
}

TEST_F(MonitorTest, ANewApiTokenOrAudienceAfterTheLearningPeriodRaisesOneFirstSeenCallerAlert) {
  clock_ = std::make_unique<ManualClock>(SystemClock().now());
  ASSERT_NO_FATAL_FAILURE(start(detector_config(config(0))));
  create_keyset("web");
  const std::string a = issuer_for("web");
  const std::string early = api_token(*app_, "early-issuer", api::Role::kIssuer, {"web"});
  ASSERT_FALSE(sign_as(a, "web", {{"sub", "x"}, {"aud", "svc-a"}}).empty());
  clock_->advance(30s);
  ASSERT_FALSE(sign_as(early, "web", {{"sub", "x"}, {"aud", "svc-a"}}).empty());  // learned silently
  clock_->advance(5min);
  ASSERT_FALSE(sign_as(a, "web", {{"sub", "x"}, {"aud", "svc-a"}}).empty());
  ASSERT_FALSE(sign_as(early, "web", {{"sub", "x"}, {"aud", "svc-a"}}).empty());
  EXPECT_TRUE(alerts()["alerts"].empty()) << alerts().dump();

  const std::string b = api_token(*app_, "new-issuer", api::Role::kIssuer, {"web"});
  ASSERT_FALSE(sign_as(b, "web", {{"sub", "x"}, {"aud", "svc-a"}}).empty());
  json list = alerts("?kind=first_seen_caller");
  ASSERT_EQ(list["alerts"].size(), 1u) << list.dump();
  const std::string id = list["alerts"][0]["id"];
  EXPECT_EQ(list["alerts"][0]["severity"], "info");
  EXPECT_EQ(list["alerts"][0]["keyset"], "web");
  EXPECT_EQ(list["alerts"][0]["evidence"]["what"], "api_token");
  EXPECT_NE(list["alerts"][0]["evidence"]["value"].get<std::string>().find("new-issuer"), std::string::npos);
  EXPECT_TRUE(list["alerts"][0]["evidence"]["monitoring_since_ms"].is_number());
  // The same token again: nothing new.
  ASSERT_FALSE(sign_as(b, "web", {{"sub", "x"}, {"aud", "svc-a"}}).empty());
  list = alerts("?kind=first_seen_caller");
  ASSERT_EQ(list["alerts"].size(), 1u) << list.dump();
  EXPECT_EQ(list["alerts"][0]["occurrences"], 1);
  // A new audience is its own alert.
  ASSERT_FALSE(sign_as(a, "web", {{"sub", "x"}, {"aud", "svc-new"}}).empty());
  list = alerts("?kind=first_seen_caller");
  ASSERT_EQ(list["alerts"].size(), 2u) << list.dump();
  bool audience = false;
  for (const auto& al : list["alerts"]) {
    audience = audience || (al["evidence"]["what"] == "audience" && al["evidence"]["value"] == "svc-new");
  }
  EXPECT_TRUE(audience) << list.dump();
  int recorded = 0;
  for (const auto& en : ledger("kind=alert")) recorded += en["event"] == "first_seen_caller" ? 1 : 0;
  EXPECT_EQ(recorded, 2);

  // A restart remembers what was seen: no caller is new again, and the learning does not restart.
  ASSERT_NO_FATAL_FAILURE(restart());
  clock_->advance(1min);
  ASSERT_FALSE(sign_as(b, "web", {{"sub", "x"}, {"aud", "svc-new"}}).empty());
  ASSERT_FALSE(sign_as(early, "web", {{"sub", "x"}, {"aud", "svc-a"}}).empty());
  EXPECT_EQ(alerts("?kind=first_seen_caller")["alerts"].size(), 2u);
  const std::string c = api_token(*app_, "after-restart", api::Role::kIssuer, {"web"});
  ASSERT_FALSE(sign_as(c, "web", {{"sub", "x"}, {"aud", "svc-a"}}).empty());
  EXPECT_EQ(alerts("?kind=first_seen_caller")["alerts"].size(), 3u);
  json detail = ok_json("GET", "/v1/alerts/" + id, ops_);
  EXPECT_EQ(detail["occurrences"], 1) << detail.dump();
}

TEST_F(MonitorTest, AMinuteFarAboveTheTrailingAverageRaisesSigningRateAnomalyOnceAfterTheWarmUp) {
  clock_ = std::make_unique<ManualClock>(SystemClock().now());
  ASSERT_NO_FATAL_FAILURE(start(detector_config(config(0))));
  create_keyset("web");
  // A burst before the warm-up is in: learned, not alerted.
  for (int i = 0; i < 10; ++i) ASSERT_FALSE(sign("web").empty());
  clock_->advance(1min);
  // Steady: 2 per minute for 5 minutes.
  for (int m = 0; m < 5; ++m) {
    for (int i = 0; i < 2; ++i) ASSERT_FALSE(sign("web").empty());
    clock_->advance(1min);
  }
  EXPECT_TRUE(alerts()["alerts"].empty()) << alerts().dump();
  // Then 12 within one minute: over the floor (5) and 3x the average.
  for (int i = 0; i < 12; ++i) ASSERT_FALSE(sign("web").empty());
  json list = alerts("?kind=signing_rate_anomaly");
  ASSERT_EQ(list["alerts"].size(), 1u) << list.dump();
  const json a = list["alerts"][0];
  EXPECT_EQ(a["severity"], "warning");
  EXPECT_EQ(a["keyset"], "web");
  EXPECT_EQ(a["occurrences"], 1) << "one alert per minute, however long the burst";
  EXPECT_EQ(a["evidence"]["minute_count"], 6) << "raised at the first signature over the floor";
  EXPECT_EQ(a["evidence"]["factor"], 3);
  EXPECT_EQ(a["evidence"]["floor"], 5);
  EXPECT_LT(a["evidence"]["trailing_average_per_minute"].get<double>(), 2.0);
  EXPECT_NE(a["evidence"]["last_actor"].get<std::string>().find("issuer-web"), std::string::npos);
  int recorded = 0;
  for (const auto& en : ledger("kind=alert")) recorded += en["event"] == "signing_rate_anomaly" ? 1 : 0;
  EXPECT_EQ(recorded, 1);
  EXPECT_EQ(alerts()["alerts"].size(), 1u) << "nothing else: " << alerts().dump();
}

TEST_F(MonitorTest, AnAlteredLedgerFailsTheAuditAndRaisesACriticalAuditFailureAlert) {
  Receiver rx;
  rx.start();
  ASSERT_NO_FATAL_FAILURE(start(config(rx.port())));
  create_keyset("web");
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(sign("web").empty());
  json v = ok_json("GET", "/v1/audit/verify", auditor_);
  EXPECT_TRUE(v["ok"].get<bool>()) << v.dump();
  EXPECT_TRUE(alerts()["alerts"].empty());
  const int64_t seq = ledger("keyset=web&kind=sign&outcome=ok")[1]["seq"];
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/keymgr.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    const std::string sql = "UPDATE ledger SET sub='mallory' WHERE seq=" + std::to_string(seq) + ";";
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    EXPECT_EQ(sqlite3_changes(db), 1);
    sqlite3_close(db);
  }
  auto r = call("GET", "/v1/audit/verify", auditor_);
  ASSERT_TRUE(r);
  json rep = json::parse(r->body, nullptr, false);
  EXPECT_FALSE(rep.value("ok", true)) << r->body;
  json list = alerts("?kind=audit_failure");
  ASSERT_EQ(list["alerts"].size(), 1u) << list.dump();
  const json a = list["alerts"][0];
  EXPECT_EQ(a["severity"], "critical");
  EXPECT_EQ(a["evidence"]["first_bad_seq"], seq) << a.dump();
  EXPECT_EQ(a["evidence"]["problem"].get<std::string>().rfind("chain_", 0), 0u) << a.dump();
  bool in_ledger = false;
  for (const auto& en : ledger("kind=alert")) in_ledger = in_ledger || en["event"] == "audit_failure";
  EXPECT_TRUE(in_ledger);
  ASSERT_TRUE(wait_for([&] {
    for (const auto& post : rx.posts()) {
      if (post.alert_id == a["id"]) return true;
    }
    return false;
  })) << "no webhook delivery";
  // Auditing again the same day counts on the same alert.
  (void)call("GET", "/v1/audit/verify", auditor_);
  list = alerts("?kind=audit_failure");
  ASSERT_EQ(list["alerts"].size(), 1u);
  EXPECT_EQ(list["alerts"][0]["occurrences"], 2);
}

TEST_F(MonitorTest, RepeatedHsmSigningFailuresRaiseHsmErrorsAtTheThreshold) {
  faults_ = std::make_unique<Pkcs11FaultInjector>();
  Pkcs11FaultInjector& faults = *faults_;
  cli::Config cfg = config(0);
  cfg.monitor.hsm_error_threshold = 3;
  cfg_ = cfg;
  ASSERT_NO_FATAL_FAILURE(start_test_app(token_, cfg, app_, faults.hook()));
  base_ = "http://127.0.0.1:" + std::to_string(app_->port());
  ops_ = api_token(*app_, "ops", api::Role::kOps);
  auditor_ = api_token(*app_, "auditor", api::Role::kAuditor);
  create_keyset("web");
  ASSERT_FALSE(sign("web").empty());
  const std::string issuer = issuer_for("web");
  for (int i = 0; i < 3; ++i) {
    faults.fail_next(P11Call::kSign, CKR_DEVICE_ERROR);
    auto r = call("POST", "/v1/keysets/web/sign", issuer, json{{"claims", {{"sub", "x"}}}}.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
    if (i < 2) { EXPECT_TRUE(alerts("?kind=hsm_errors")["alerts"].empty()) << "below the threshold"; }
  }
  json list = alerts("?kind=hsm_errors");
  ASSERT_EQ(list["alerts"].size(), 1u) << list.dump();
  EXPECT_EQ(list["alerts"][0]["severity"], "warning");
  EXPECT_EQ(list["alerts"][0]["keyset"], "web");
  EXPECT_EQ(list["alerts"][0]["evidence"]["count"], 3) << list.dump();
  EXPECT_TRUE(list["alerts"][0]["evidence"].contains("last_error")) << list.dump();
  bool in_ledger = false;
  for (const auto& en : ledger("kind=alert")) in_ledger = in_ledger || en["event"] == "hsm_errors";
  EXPECT_TRUE(in_ledger);
  ASSERT_FALSE(sign("web").empty()) << "the HSM is back";
}

}  // namespace
}  // namespace keymgr::testing
