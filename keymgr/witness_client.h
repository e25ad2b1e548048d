// Witnesses (C2SP tlog-witness, tlog-cosignature; docs/ledger.md "Witnesses"): sends each new
// signed checkpoint with a consistency proof to the configured witnesses (POST
// <url>/add-checkpoint), verifies the cosignatures they return with the witness's configured key
// and stores them (db::Store::add_cosignature), so LedgerLog serves the cosigned checkpoint.
//
// A witness remembers the newest checkpoint it cosigned for this log and cosigns only checkpoints
// that extend it. So once a witness cosigned a checkpoint, keymgr (or whoever holds its database
// and HSM) cannot get that witness to cosign a history that forks from it: relying parties that
// require the witness's cosignature (tlog::TrustPolicy::witness_quorum) refuse the fork.
//
// Protocol, per witness and checkpoint of size N (the newest stored one):
//   - "old" is the size the witness last cosigned as far as this process knows (0 at start: a
//     witness answers 409 with its size, and the request is retried once from that size);
//   - 200: the body's signature lines; the configured key's line must verify over the checkpoint
//     text (unknown keys' lines are ignored), then it is stored;
//   - 409 with a size > N, or again after the retry, and 422 (the witness could not verify our
//     proof from its own size): a FORK signal — error log, keymgr_witness_conflicts_total{witness};
//     not retried for this checkpoint;
//   - anything else (400/403/404, a bad cosignature, a network error, 5xx):
//     keymgr_witness_errors_total{witness}; transport errors and 5xx are retried for the same
//     checkpoint after `retry_interval`, the others only with the next checkpoint.
// A witness is never on the signing or integration path: submissions run on this client's own
// thread, one witness after the other, each request bounded by the witness's timeout.
//
// Owns: its thread (start()/stop()). `log`, `store`, `clock` (and `metrics` if given) must outlive
// it. Thread-safety: every method may be called concurrently (submissions are serialised).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "db/store.h"
#include "keymgr/ledger_log.h"
#include "keymgr/signed_note.h"

namespace keymgr {

class WitnessHttp;  // witness_client.cc: one witness's keep-alive HTTP client

struct WitnessConfig {
  // The submission prefix: "http(s)://host[:port][/path]"; keymgr POSTs <url>/add-checkpoint.
  std::string url;
  note::NoteKey key;  // type 0x04 (cosignature/v1); key.name is the witness's name
  std::chrono::milliseconds timeout{5000};  // connect, send and receive, each
};

struct WitnessOptions {
  std::vector<WitnessConfig> witnesses;
  // Readiness (witness_status): 0 = witnesses are best effort. N > 0: degraded when a checkpoint
  // has waited longer than quorum_grace for N valid cosignatures and no newer one has them.
  size_t quorum = 0;
  std::chrono::milliseconds quorum_grace{30000};
  std::chrono::milliseconds retry_interval{10000};  // transient failures: retry the same checkpoint
};

// Checks a witness's url (see WitnessConfig::url) and splits it. InvalidArgument "bad_witness_url".
struct WitnessUrl {
  std::string scheme_host_port;  // "https://w.example:443"
  std::string path;              // "/prefix/add-checkpoint"
};
Result<WitnessUrl> parse_witness_url(std::string_view url);

enum class WitnessOutcome {
  kCosigned,  // a verified cosignature was stored
  kConflict,  // the witness refused our history (409 / 422): a fork signal
  kRefused,   // the witness refused the request otherwise, or answered something invalid
  kTransient, // no answer, or 5xx: worth retrying
};

struct WitnessResult {
  WitnessOutcome outcome = WitnessOutcome::kTransient;
  std::string message;                  // what happened (for logs)
  std::optional<uint64_t> witness_size; // the size the witness reported (409), if any
};

class WitnessClient {
 public:
  WitnessClient(LedgerLog& log, db::Store& store, const Clock& clock, WitnessOptions opts, Metrics* metrics = nullptr);
  ~WitnessClient();
  WitnessClient(const WitnessClient&) = delete;
  WitnessClient& operator=(const WitnessClient&) = delete;

  const WitnessOptions& options() const { return opts_; }

  void start();
  void stop();
  // A new checkpoint was signed: submit it now (LedgerLog's on_checkpoint callback; never blocks).
  void notify();

  // One round, synchronously: the newest stored checkpoint to every witness that has not cosigned
  // it and is not backing off. (What the thread runs; for tests.)
  void sync_once();
  // Submits `cp` (as stored: the log's signed note, no cosignatures) to witness `i` now.
  WitnessResult submit(size_t i, const db::TreeCheckpoint& cp);

  // Readiness: OK when quorum is 0 or met in time (see WitnessOptions::quorum); else Unavailable
  // "witness_quorum". Counts only stored cosignatures that verify with a configured key.
  Status quorum_status();

 private:
  struct State {
    std::unique_ptr<WitnessHttp> http;  // keep-alive connection, used under submit_mu_
    uint64_t known_size = 0;                  // what the witness last cosigned, as far as we know
    int64_t attempted_size = -1;              // the checkpoint last submitted
    bool attempt_final = false;               // its outcome is not worth a retry
    int64_t attempted_at_ms = 0;
    std::string last_message;                 // logged when it changes
  };

  WitnessResult submit_locked(size_t i, const db::TreeCheckpoint& cp);  // REQUIRES submit_mu_
  WitnessResult attempt(size_t i, const db::TreeCheckpoint& cp);        // REQUIRES submit_mu_
  // A 200 answer: verifies and stores the witness's cosignature.
  WitnessResult handle_cosignatures(size_t i, const db::TreeCheckpoint& cp, const std::string& text,
                                    const std::string& body);
  size_t valid_cosignatures(const db::TreeCheckpoint& cp);
  void count(const char* metric, size_t i);
  void run();

  LedgerLog& log_;
  db::Store& store_;
  const Clock& clock_;
  const WitnessOptions opts_;
  Metrics* metrics_;

  std::mutex submit_mu_;      // submissions, one at a time
  std::vector<State> states_; // GUARDED_BY(submit_mu_), one per witness

  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stop_ = false;         // GUARDED_BY(run_mu_)
  bool pending_ = false;      // GUARDED_BY(run_mu_): notify() since the last round
  std::thread thread_;
};

}  // namespace keymgr
