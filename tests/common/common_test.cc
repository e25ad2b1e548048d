#include <gtest/gtest.h>

#include <sstream>

#include <cstdlib>
#include <fstream>
#include <utility>
#include <vector>

#include "cli/config.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/json_util.h"
#include "common/metrics.h"
#include "common/secret.h"
#include "common/status.h"

namespace keymgr {
namespace {

TEST(Base64Url, Rfc4648VectorsWithoutPadding) {
  const std::pair<std::string, std::string> v[] = {{"", ""},         {"f", "Zg"},         {"fo", "Zm8"},
                                                   {"foo", "Zm9v"},  {"foob", "Zm9vYg"},  {"fooba", "Zm9vYmE"},
                                                   {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, enc] : v) {
    EXPECT_EQ(base64url_encode(plain), enc);
    auto d = base64url_decode(enc);
    ASSERT_TRUE(d.has_value()) << enc;
    EXPECT_EQ(to_string(*d), plain);
  }
  EXPECT_EQ(base64url_encode(Bytes{0xfb, 0xff}), "-_8");
}

TEST(Base64Url, StrictDecoding) {
  EXPECT_FALSE(base64url_decode("Zg==").has_value()) << "padding";
  EXPECT_FALSE(base64url_decode("+/8").has_value()) << "standard alphabet";
  EXPECT_FALSE(base64url_decode("Zm 9v").has_value()) << "whitespace";
  EXPECT_FALSE(base64url_decode("Z").has_value()) << "impossible length";
  EXPECT_FALSE(base64url_decode("Zh").has_value()) << "non-canonical trailing bits";
}

TEST(Hex, RoundTripAndRejects) {
  EXPECT_EQ(hex_encode(Bytes{0x00, 0xab, 0xff}), "00abff");
  EXPECT_EQ(*hex_decode("00ABff"), (Bytes{0x00, 0xab, 0xff}));
  EXPECT_FALSE(hex_decode("abc").has_value());
  EXPECT_FALSE(hex_decode("zz").has_value());
}

TEST(Crypto, Sha256AndConstantTimeCompare) {
  EXPECT_EQ(hex_encode(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  auto r = random_bytes(16);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 16u);
  EXPECT_NE(*r, *random_bytes(16));
}

TEST(StatusResult, CarriesCodeReasonAndMessage) {
  Result<int> ok = 5;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 5);
  Result<int> bad = Unavailable("HSM gone", "hsm_unavailable");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().reason(), "hsm_unavailable");
  EXPECT_EQ(bad.status().with_context("signing").message(), "signing: HSM gone");
  Result<int> from_ok = Status::Ok();
  EXPECT_FALSE(from_ok.ok()) << "a Result built from OK must not pretend to hold a value";
  EXPECT_EQ(Status(ErrorCode::kNotFound, "", "x").reason(), "not_found");
}

TEST(ParseJson, BoundsSizeAndDepth) {
  EXPECT_TRUE(parse_json(R"({"a":[1,2,{"b":null}]})").ok());
  EXPECT_EQ(parse_json("{bad").status().reason(), "bad_json");
  EXPECT_EQ(parse_json(std::string(70000, ' ')).status().reason(), "too_large");
  std::string deep(40, '[');
  deep += std::string(40, ']');
  EXPECT_EQ(parse_json(deep).status().reason(), "json_too_deep");
  EXPECT_EQ(parse_json("\"\xff\"").status().reason(), "bad_json") << "invalid UTF-8";
}

TEST(Secrets, FromFileOrEnvNeverEcho) {
  const std::string path = ::testing::TempDir() + "/pin.txt";
  std::ofstream(path) << "s3cret-pin\n";
  auto s = load_secret(path, "", "HSM PIN");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->reveal(), "s3cret-pin");
  setenv("KM_TEST_SECRET", "from-env", 1);
  EXPECT_EQ(load_secret("", "KM_TEST_SECRET", "x")->reveal(), "from-env");
  unsetenv("KM_TEST_SECRET");
  auto missing = load_secret("", "KM_TEST_SECRET", "HSM PIN");
  EXPECT_EQ(missing.status().reason(), "secret_missing");
  auto unreadable = load_secret("/nonexistent/pin", "", "HSM PIN");
  EXPECT_EQ(unreadable.status().reason(), "secret_unreadable");
  Secret moved = std::move(*s);
  EXPECT_EQ(moved.reveal(), "s3cret-pin");
}

TEST(MetricsRender, PrometheusTextFormat) {
  Metrics m;
  m.describe("x_total", "counter", "things");
  m.inc("x_total", "k=\"a\"");
  m.inc("x_total", "k=\"a\"", 2);
  m.observe("lat_seconds", "", 0.003);
  m.gauge("g", "a gauge", [] { return std::vector<std::pair<std::string, double>>{{"", 7}}; });
  const std::string out = m.render();
  EXPECT_NE(out.find("# TYPE x_total counter\nx_total{k=\"a\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("lat_seconds_bucket{le=\"0.005\"} 1"), std::string::npos) << out;
  EXPECT_NE(out.find("lat_seconds_bucket{le=\"0.002\"} 0"), std::string::npos) << out;
  EXPECT_NE(out.find("lat_seconds_count 1"), std::string::npos) << out;
  EXPECT_NE(out.find("# TYPE g gauge\ng 7\n"), std::string::npos) << out;
  EXPECT_EQ(Metrics::label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(Config, TheDocumentedExampleParsesToTheDefaults) {
  const char* src = std::getenv("KEYMGR_SOURCE_DIR");
  ASSERT_TRUE(src != nullptr) << "run through ctest (KEYMGR_SOURCE_DIR)";
  std::ifstream in(std::string(src) + "/docs/keymgr.example.toml");
  ASSERT_TRUE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  auto c = cli::parse_config(text.str(), "keymgr.example.toml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  const cli::Config d;
  EXPECT_EQ(c->ledger.origin, d.ledger.origin);
  EXPECT_EQ(c->ledger.checkpoint_interval, d.ledger.checkpoint_interval);
  EXPECT_EQ(c->ledger.integrate_max_delay, d.ledger.integrate_max_delay);
  EXPECT_EQ(c->ledger.audit_key_lifetime, d.ledger.audit_key_lifetime);
  EXPECT_EQ(c->ledger.audit_key_overlap, d.ledger.audit_key_overlap);
  EXPECT_EQ(c->scheduler_interval, d.scheduler_interval);
}

TEST(Config, MonitorUnusualUseKeysParseAndAreBounded) {
  auto c = cli::parse_config(
      "[monitor]\ndormant_after = \"3d\"\nrate_factor = 4\nrate_floor = 50\nrate_warmup = \"30m\"\n"
      "learning_period = \"2h\"\nhsm_error_threshold = 7\n",
      "monitor.toml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->monitor.dormant_after, std::chrono::hours(72));
  EXPECT_EQ(c->monitor.rate_factor, 4);
  EXPECT_EQ(c->monitor.rate_floor, 50);
  EXPECT_EQ(c->monitor.rate_warmup, std::chrono::minutes(30));
  EXPECT_EQ(c->monitor.learning_period, std::chrono::hours(2));
  EXPECT_EQ(c->monitor.hsm_error_threshold, 7);
  // The defaults (docs: a week idle, 10x and 600 per minute after 10 minutes, a day of learning, 5 errors).
  auto d = cli::parse_config("", "empty.toml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->monitor.dormant_after, std::chrono::hours(24 * 7));
  EXPECT_EQ(d->monitor.rate_factor, 10);
  EXPECT_EQ(d->monitor.rate_floor, 600);
  EXPECT_EQ(d->monitor.rate_warmup, std::chrono::seconds(600));
  EXPECT_EQ(d->monitor.learning_period, std::chrono::hours(24));
  EXPECT_EQ(d->monitor.hsm_error_threshold, 5);
  // 0 turns a detector off where that is allowed.
  auto off = cli::parse_config("[monitor]\ndormant_after = 0\nrate_factor = 0\nlearning_period = 0\n", "off.toml");
  ASSERT_TRUE(off.ok()) << off.status().to_string();
  EXPECT_EQ(off->monitor.dormant_after.count(), 0);
  EXPECT_EQ(off->monitor.rate_factor, 0);
  EXPECT_EQ(off->monitor.learning_period.count(), 0);
  // The bounds, each named in the error.
  for (const auto& [line, key] : std::vector<std::pair<std::string, std::string>>{
           {"dormant_after = \"3651d\"", "dormant_after"},
           {"rate_factor = -1", "rate_factor"},
           {"rate_factor = 1001", "rate_factor"},
           {"rate_floor = 0", "rate_floor"},
           {"rate_floor = 100000001", "rate_floor"},
           {"rate_warmup = \"8d\"", "rate_warmup"},
           {"learning_period = \"366d\"", "learning_period"},
           {"hsm_error_threshold = 0", "hsm_error_threshold"},
           {"hsm_error_threshold = 1000001", "hsm_error_threshold"},
           {"rate_factor = \"ten\"", "rate_factor"},
           {"dormant_after = \"soon\"", "dormant_after"},
           {"dormant_afer = \"1d\"", "dormant_afer"},
       }) {
    auto bad = cli::parse_config("[monitor]\n" + line + "\n", "bad.toml");
    ASSERT_FALSE(bad.ok()) << line;
    EXPECT_NE(bad.status().to_string().find(key), std::string::npos) << line << ": " << bad.status().to_string();
  }
  // At the bounds: accepted.
  auto edge = cli::parse_config(
      "[monitor]\ndormant_after = \"3650d\"\nrate_factor = 1000\nrate_floor = 1\nrate_warmup = \"7d\"\n"
      "learning_period = \"365d\"\nhsm_error_threshold = 1\n",
      "edge.toml");
  EXPECT_TRUE(edge.ok()) << edge.status().to_string();
}

TEST(Config, ParsesEveryOptionAndRefusesMistakes) {
  auto c = cli::parse_config(R"(
[server]
listen = "0.0.0.0"
port = 9000
threads = 32
public_listen = "0.0.0.0"
public_port = 9001
public_threads = 4
[hsm]
token_label = "prod"
pin_file = "/run/secrets/pin"
pool_size = 8
call_timeout_ms = 500
admin_timeout_ms = 30000
[database]
path = "/var/lib/keymgr/k.db"
cache_mib = 32
[scheduler]
interval = "30s"
checkpoint_interval = 600
[log]
level = "debug"
json = true
)", "test.toml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->server.host, "0.0.0.0");
  EXPECT_EQ(c->server.port, 9000);
  EXPECT_EQ(c->hsm_pool_size, 8);
  EXPECT_EQ(c->server.public_host, "0.0.0.0");
  EXPECT_EQ(c->server.public_port, 9001);
  EXPECT_EQ(c->server.public_threads, 4);
  EXPECT_EQ(c->hsm_call_timeout_ms, 500);
  EXPECT_EQ(c->hsm_admin_timeout_ms, 30000);
  EXPECT_EQ(c->db_cache_mib, 32);
  auto defaults = cli::parse_config("", "empty.toml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->server.public_port, -1);  // the public listener is off unless asked for
  EXPECT_EQ(defaults->hsm_call_timeout_ms, 2000);
  EXPECT_EQ(c->scheduler_interval, std::chrono::seconds(30));
  EXPECT_EQ(c->ledger.checkpoint_interval, std::chrono::seconds(600));  // old spelling, scheduler.checkpoint_interval
  EXPECT_EQ(defaults->ledger.origin, "keymgr.local/ledger");
  EXPECT_EQ(defaults->ledger.integrate_max_delay, std::chrono::seconds(1));
  auto ledger = cli::parse_config(
      "[ledger]\norigin = \"keymgr.example.com/ledger\"\nintegrate_max_delay = \"2s\"\ncheckpoint_interval = \"30s\"\n"
      "audit_key_alg = \"ES256\"\naudit_key_lifetime = \"90d\"\naudit_key_overlap = \"7d\"\n",
      "ledger.toml");
  ASSERT_TRUE(ledger.ok()) << ledger.status().to_string();
  EXPECT_EQ(ledger->ledger.origin, "keymgr.example.com/ledger");
  EXPECT_EQ(ledger->ledger.integrate_max_delay, std::chrono::seconds(2));
  EXPECT_EQ(ledger->ledger.checkpoint_interval, std::chrono::seconds(30));
  EXPECT_EQ(ledger->ledger.audit_key_alg, "ES256");
  EXPECT_EQ(ledger->ledger.audit_key_lifetime, std::chrono::hours(24 * 90));
  EXPECT_EQ(ledger->ledger.audit_key_overlap, std::chrono::hours(24 * 7));
  EXPECT_TRUE(c->log.json);

  // Witnesses: [[ledger.witnesses]] after the [ledger] keys, or an inline array.
  const std::string remora = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";
  auto wit = cli::parse_config("[ledger]\ncheckpoint_interval = \"10s\"\nwitness_quorum = 1\n"
                               "[[ledger.witnesses]]\nname = \"remora.n621.de\"\nurl = \"https://remora.n621.de\"\n"
                               "key = \"" + remora + "\"\ntimeout = \"3s\"\n",
                               "w.toml");
  ASSERT_TRUE(wit.ok()) << wit.status().to_string();
  ASSERT_EQ(wit->witnesses.witnesses.size(), 1u);
  EXPECT_EQ(wit->witnesses.witnesses[0].key.name, "remora.n621.de");
  EXPECT_EQ(wit->witnesses.witnesses[0].url, "https://remora.n621.de");
  EXPECT_EQ(wit->witnesses.witnesses[0].timeout, std::chrono::seconds(3));
  EXPECT_EQ(wit->witnesses.quorum, 1u);
  EXPECT_EQ(wit->witnesses.quorum_grace, std::chrono::seconds(3 * 10 + 2 * 3));
  EXPECT_EQ(wit->witnesses.retry_interval, std::chrono::seconds(10));
  auto inline_w = cli::parse_config("[ledger]\nwitnesses = [{name = \"remora.n621.de\", url = \"http://127.0.0.1:1/w\", key = \"" +
                                        remora + "\"}]\n",
                                    "w.toml");
  ASSERT_TRUE(inline_w.ok()) << inline_w.status().to_string();
  EXPECT_EQ(inline_w->witnesses.witnesses.at(0).timeout, std::chrono::seconds(5));
  EXPECT_EQ(defaults->witnesses.quorum, 0u);
  EXPECT_TRUE(defaults->witnesses.witnesses.empty());
  const std::string w = "[[ledger.witnesses]]\n";
  const std::string ok_fields = "name = \"remora.n621.de\"\nurl = \"https://r.example\"\n";
  for (const auto& [bad, field] : std::vector<std::pair<std::string, std::string>>{
           {w + "url = \"https://r.example\"\nkey = \"" + remora + "\"\n", ".name"},
           {w + "name = \"a b\"\nurl = \"https://r.example\"\nkey = \"" + remora + "\"\n", ".name"},
           {w + "name = \"remora.n621.de\"\nkey = \"" + remora + "\"\n", ".url"},
           {w + "name = \"remora.n621.de\"\nurl = \"r.example\"\nkey = \"" + remora + "\"\n", ".url"},
           {w + ok_fields, ".key"},
           {w + ok_fields + "key = \"remora.n621.de+da77ade7+BOvN\"\n", ".key"},
           // a 0x01 key is not a cosigner's
           {w + "name = \"TEST\"\nurl = \"https://r.example\"\nkey = \"TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6\"\n", "0x04"},
           {w + "name = \"other.example\"\nurl = \"https://r.example\"\nkey = \"" + remora + "\"\n", ".key"},
           {w + ok_fields + "key = \"" + remora + "\"\ntimeout = \"0s\"\n", ".timeout"},
           {w + ok_fields + "key = \"" + remora + "\"\ntimeout = \"1h\"\n", ".timeout"},
           {w + ok_fields + "key = \"" + remora + "\"\nretries = 3\n", "retries"},
           {w + ok_fields + "key = \"" + remora + "\"\n" + w + ok_fields + "key = \"" + remora + "\"\n", "twice"},
           {"[ledger]\nwitness_quorum = 2\n" + w + ok_fields + "key = \"" + remora + "\"\n", "witness_quorum"},
       }) {
    auto r = cli::parse_config(bad, "bad.toml");
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().reason(), "bad_config");
      EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().message() << " lacks " << field;
    }
  }
  for (const char* bad : {"[server]\nprot = 1\n", "[nope]\n", "[server]\nport = \"x\"\n", "[server]\nport = 70000\n",
                          "[hsm]\npool_size = 0\n", "[scheduler]\ninterval = \"soon\"\n", "not toml at all",
                          "[server]\ntls_cert = \"a\"\n", "[hsm]\npin = \"1234\"\n", "[scheduler]\ninterval = 1e30\n",
                          "[server]\nport = nan\n", "[hsm]\npool_size = 4.0\n", "[server]\npublic_port = 70000\n",
                          "[server]\npublic_port = -2\n", "[server]\npublic_threads = 0\n", "[database]\ncache_mib = 1\n",
                          "[hsm]\nadmin_timeout_ms = 0\n", "[hsm]\ncall_timeout_ms = -1\n",
                          "[ledger]\norigin = \"https://x.example/log\"\n", "[ledger]\norigin = \"a b\"\n",
                          "[ledger]\norigin = \"\"\n", "[ledger]\naudit_key_alg = \"RS256\"\n",
                          "[ledger]\naudit_key_overlap = \"400d\"\n", "[ledger]\nintegrate_max_delay = \"0s\"\n",
                          // witnesses: every field checked, the key must be a 0x04 key of that name
                          "[ledger]\nwitnesses = \"w\"\n", "[ledger]\nwitnesses = [1]\n",
                          "[ledger]\nwitness_quorum = 1\n", "[ledger]\nwitness_quorum = -1\n"}) {
    auto r = cli::parse_config(bad, "bad.toml");
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().reason(), "bad_config");
      EXPECT_NE(r.status().message().find("bad.toml"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace keymgr
