// WitnessClient (keymgr/witness_client.h) against a tiny in-process witness (cpp-httplib) whose
// answers each test scripts: the add-checkpoint request body, 200 with a cosignature (stored,
// served, verified by a TrustPolicy), 409 and the retry from the witness's size, conflicts (409
// beyond our size, 422), refusals (bad cosignature, 403), transient failures, the readiness
// quorum, and witness URLs. The log is a real LedgerLog over SQLite and the FakeHsm.
#include <gtest/gtest.h>

#include <httplib.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "db/sqlite_store.h"
#include "keymgr/ledger_log.h"
#include "keymgr/tlog_text.h"
#include "keymgr/witness_client.h"
#include "tests/db/test_records.h"
#include "tests/keymgr/note_test_keys.h"
#include "tests/support/fake_hsm.h"
#include "tests/support/softhsm_token.h"

namespace keymgr {
namespace {

using testing::Ed25519TestKey;

struct Answer {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// A witness whose answers the test decides: `script` sees each request body (in order).
class ScriptedWitness {
 public:
  ScriptedWitness() {
    server_.Post("/w/add-checkpoint", [this](const httplib::Request& req, httplib::Response& res) {
      Answer a;
      {
        std::lock_guard lk(mu_);
        requests_.push_back(req.body);
        a = script_ ? script_(req.body) : Answer{500, "text/plain", "no script\n"};
      }
      res.status = a.status;
      res.set_content(a.body, a.content_type.c_str());
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~ScriptedWitness() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/w/"; }
  void script(std::function<Answer(const std::string&)> f) {
    std::lock_guard lk(mu_);
    script_ = std::move(f);
    requests_.clear();
  }
  std::vector<std::string> requests() {
    std::lock_guard lk(mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::function<Answer(const std::string&)> script_;
  std::vector<std::string> requests_;
};

class WitnessClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir("km-witness");
    auto s = db::open_sqlite_store(dir_ + "/keymgr.db", db::StoreOptions{});
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    store_ = std::move(*s);
    LedgerLogOptions lo;
    lo.origin = "keymgr.test/ledger";
    lo.audit_key_alg = "Ed25519";
    log_ = std::make_unique<LedgerLog>(hsm_, *store_, clock_, lo);
    auto wk = note::make_note_key("witness.test/w1", note::SigType::kCosignatureV1, wkey_.public_key());
    ASSERT_TRUE(wk.ok());
    wit_ = *wk;
    WitnessOptions wo;
    wo.witnesses.push_back(WitnessConfig{witness_.url(), wit_, std::chrono::seconds(2)});
    wo.quorum = 1;
    wo.quorum_grace = std::chrono::seconds(30);
    client_ = std::make_unique<WitnessClient>(*log_, *store_, clock_, wo);
  }
  void TearDown() override {
    client_.reset();
    log_.reset();
    store_.reset();
    testing::remove_tree(dir_);
  }

  // n more ledger entries, integrated and checkpointed; returns the stored checkpoint.
  db::TreeCheckpoint grow(int n) {
    for (int i = 0; i < n; ++i) {
      EXPECT_TRUE(store_->append_ledger(db::testing::sign_entry("k1", "j" + std::to_string(seq_++), 1000)).ok());
    }
    EXPECT_TRUE(log_->integrate().ok());
    clock_.advance(std::chrono::seconds(1));
    auto cp = log_->checkpoint();
    EXPECT_TRUE(cp.ok() && cp->has_value()) << cp.status().to_string();
    return cp.ok() && cp->has_value() ? **cp : db::TreeCheckpoint{};
  }

  // The witness's cosignature line on the checkpoint in `body` (an add-checkpoint request).
  std::string cosign(const std::string& body, const Ed25519TestKey& key, const note::NoteKey& as) {
    auto req = tlog::parse_consistency_proof(body);
    EXPECT_TRUE(req.ok()) << req.status().to_string();
    auto sig = note::cosign(req->checkpoint.text, as, 1767225600, key.signer());
    EXPECT_TRUE(sig.ok());
    return note::format_signature_line(*sig);
  }

  static Answer size_answer(uint64_t n) { return {409, "text/x.tlog.size", std::to_string(n) + "\n"}; }

  ManualClock clock_{from_unix_seconds(1767225600)};
  testing::FakeHsm hsm_;
  std::string dir_;
  std::unique_ptr<db::Store> store_;
  std::unique_ptr<LedgerLog> log_;
  Ed25519TestKey wkey_;
  note::NoteKey wit_;
  ScriptedWitness witness_;
  std::unique_ptr<WitnessClient> client_;
  int seq_ = 0;
};

TEST_F(WitnessClientTest, CosignatureIsVerifiedStoredAndServed) {
  const db::TreeCheckpoint cp = grow(5);
  Ed25519TestKey other;
  auto other_key = *note::make_note_key("witness.test/other", note::SigType::kCosignatureV1, other.public_key());
  witness_.script([&](const std::string& body) {
    // Lines of unknown keys are ignored (spec).
    return Answer{200, "text/plain", cosign(body, other, other_key) + cosign(body, wkey_, wit_)};
  });
  WitnessResult r = client_->submit(0, cp);
  EXPECT_EQ(r.outcome, WitnessOutcome::kCosigned) << r.message;
  auto reqs = witness_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  auto req = tlog::parse_consistency_proof(reqs[0]);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->old_size, 0u);  // a witness without state for this log accepts old 0
  EXPECT_TRUE(req->proof.empty());
  EXPECT_EQ(*note::format_note(req->checkpoint), cp.note);  // the log-signed checkpoint, verbatim

  auto served = log_->latest_checkpoint();
  ASSERT_TRUE(served.ok());
  EXPECT_NE(served->note, cp.note);
  EXPECT_EQ(served->note.find("witness.test/other"), std::string::npos);
  auto keys = log_->keys();
  ASSERT_TRUE(keys.ok());
  tlog::TrustPolicy policy{"keymgr.test/ledger", {keys->at(0).key}, {wit_}, 1};
  auto v = tlog::verify_checkpoint(*note::parse_note(served->note), policy);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  ASSERT_EQ(v->cosigners.size(), 1u);
  EXPECT_EQ(v->cosigners[0].timestamp, 1767225600u);
  EXPECT_TRUE(client_->quorum_status().ok());

  // The next checkpoint goes with a consistency proof from the size the witness cosigned.
  const db::TreeCheckpoint cp2 = grow(3);
  EXPECT_EQ(client_->submit(0, cp2).outcome, WitnessOutcome::kCosigned);
  req = tlog::parse_consistency_proof(witness_.requests().back());
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->old_size, 5u);
  tlog::Checkpoint old{"keymgr.test/ledger", 5, *db::merkle::hash_from_bytes(cp.root), {}};
  const tlog::TrustPolicy log_only{policy.origin, policy.log_keys, {}, 0};
  EXPECT_TRUE(tlog::verify_consistency_proof(*req, old, log_only).ok());
}

TEST_F(WitnessClientTest, ConflictRetriesOnceFromTheWitnessSize) {
  grow(4);
  const db::TreeCheckpoint cp = grow(6);  // size 10
  witness_.script([&](const std::string& body) {
    auto req = tlog::parse_consistency_proof(body);
    if (req->old_size != 4) return size_answer(4);
    return Answer{200, "text/plain", cosign(body, wkey_, wit_)};
  });
  WitnessResult r = client_->submit(0, cp);
  EXPECT_EQ(r.outcome, WitnessOutcome::kCosigned) << r.message;
  auto reqs = witness_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(tlog::parse_consistency_proof(reqs[0])->old_size, 0u);
  auto retry = tlog::parse_consistency_proof(reqs[1]);
  EXPECT_EQ(retry->old_size, 4u);
  EXPECT_FALSE(retry->proof.empty());
}

TEST_F(WitnessClientTest, ForkSignalsAreConflicts) {
  const db::TreeCheckpoint cp = grow(5);
  // The witness cosigned more than this log has: it saw another history.
  witness_.script([](const std::string&) { return size_answer(7); });
  WitnessResult r = client_->submit(0, cp);
  EXPECT_EQ(r.outcome, WitnessOutcome::kConflict) << r.message;
  EXPECT_EQ(r.witness_size.value_or(0), 7u);
  EXPECT_EQ(witness_.requests().size(), 1u);  // no retry

  // Our proof from the witness's size does not verify against what it cosigned.
  witness_.script([](const std::string& body) {
    return tlog::parse_consistency_proof(body)->old_size == 3 ? Answer{422, "text/plain", "bad proof\n"}
                                                               : size_answer(3);
  });
  r = client_->submit(0, cp);
  EXPECT_EQ(r.outcome, WitnessOutcome::kConflict) << r.message;
  EXPECT_EQ(witness_.requests().size(), 2u);

  // Same size, another root: 409 naming the size we sent.
  witness_.script([](const std::string&) { return size_answer(5); });
  r = client_->submit(0, cp);
  EXPECT_EQ(r.outcome, WitnessOutcome::kConflict) << r.message;
  EXPECT_TRUE(store_->list_cosignatures(cp.size)->empty());
}

TEST_F(WitnessClientTest, RefusalsAndTransientFailures) {
  const db::TreeCheckpoint cp = grow(5);
  Ed25519TestKey impostor;
  witness_.script([&](const std::string& body) {
    // The configured name and key id, signed by another key.
    auto req = tlog::parse_consistency_proof(body);
    Bytes sig{0, 0, 0, 0, 0x69, 0x55, 0xb9, 0x00};  // timestamp 1767225600
    Bytes ed = *impostor.sign(note::cosignature_message(1767225600, req->checkpoint.text));
    sig.insert(sig.end(), ed.begin(), ed.end());
    return Answer{200, "text/plain", note::format_signature_line({wit_.name, wit_.key_id, sig})};
  });
  EXPECT_EQ(client_->submit(0, cp).outcome, WitnessOutcome::kRefused);
  witness_.script([](const std::string&) { return Answer{200, "text/plain", "not a signature line\n"}; });
  EXPECT_EQ(client_->submit(0, cp).outcome, WitnessOutcome::kRefused);
  witness_.script([](const std::string&) { return Answer{403, "text/plain", "unknown key\n"}; });
  EXPECT_EQ(client_->submit(0, cp).outcome, WitnessOutcome::kRefused);
  witness_.script([](const std::string&) { return Answer{409, "text/plain", "4\n"}; });  // wrong media type
  EXPECT_EQ(client_->submit(0, cp).outcome, WitnessOutcome::kRefused);
  witness_.script([](const std::string&) { return Answer{503, "text/plain", "busy\n"}; });
  EXPECT_EQ(client_->submit(0, cp).outcome, WitnessOutcome::kTransient);
  EXPECT_TRUE(store_->list_cosignatures(cp.size)->empty());

  // Nobody listening.
  WitnessOptions wo;
  wo.witnesses.push_back(WitnessConfig{"http://127.0.0.1:1", wit_, std::chrono::seconds(1)});
  WitnessClient gone(*log_, *store_, clock_, wo);
  EXPECT_EQ(gone.submit(0, cp).outcome, WitnessOutcome::kTransient);
}

TEST_F(WitnessClientTest, QuorumStatusWaitsForTheGracePeriod) {
  grow(5);
  EXPECT_TRUE(client_->quorum_status().ok());  // young
  clock_.advance(std::chrono::seconds(31));
  Status st = client_->quorum_status();
  EXPECT_EQ(st.reason(), "witness_quorum") << st.to_string();
  // A newer checkpoint is cosigned: ready again.
  witness_.script([&](const std::string& body) { return Answer{200, "text/plain", cosign(body, wkey_, wit_)}; });
  client_->sync_once();
  EXPECT_EQ(witness_.requests().size(), 1u);
  EXPECT_TRUE(client_->quorum_status().ok());
  client_->sync_once();  // already cosigned: nothing sent
  EXPECT_EQ(witness_.requests().size(), 1u);
}

TEST(WitnessUrl, SplitsAndRefuses) {
  auto u = parse_witness_url("https://w.example:8443/prefix/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme_host_port, "https://w.example:8443");
  EXPECT_EQ(u->path, "/prefix/add-checkpoint");
  EXPECT_EQ(parse_witness_url("http://w.example")->path, "/add-checkpoint");
  for (const char* bad : {"w.example", "ftp://w.example", "http://", "http://w.example/a b", "http://u@w.example",
                          "http://w.example/?x=1"}) {
    EXPECT_FALSE(parse_witness_url(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace keymgr
