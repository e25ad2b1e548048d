// The ledger as a transparency log (docs/ledger.md, "The transparency log"): integrates durable
// ledger entries into the store's RFC 9162 Merkle tree off the signing path, signs C2SP checkpoints
// (signed notes) with HSM-held audit keys, rotates those keys with an overlap, serves inclusion and
// consistency proofs, and audits the whole log (chain, tree, every checkpoint by its own key id,
// consistency between consecutive checkpoints).
//
// Fail closed on history: a checkpoint is signed only after a consistency proof from the newest
// signed checkpoint to the new tree verifies against both roots, so keymgr never signs two
// inconsistent views of its ledger (a crash between integration and signing changes nothing: the
// tree and the checkpoints are both durable and the check runs on the stored data).
//
// Audit keys: Ed25519 (C2SP signed-note type 0x01) when the HSM can make Ed25519 keys, otherwise
// ECDSA P-256 (type 0x02). The key name is the log's origin. A key signs from `active_from`; when
// it is `audit_key_lifetime - audit_key_overlap` old a successor is made and both sign; at
// `audit_key_lifetime` the old one retires (it stays published, and verifies what it signed).
//
// Owns: the integrator thread (start()/stop()). `hsm`, `store`, `clock` (and `metrics` if given)
// must outlive it. Thread-safety: every method may be called concurrently; checkpoint signing and
// key changes are serialised by one mutex, never held during integration.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "db/merkle.h"
#include "db/store.h"
#include "hsm/hsm.h"
#include "keymgr/signed_note.h"

namespace keymgr {

inline constexpr std::string_view kAuditLogKeyLabelPrefix = "keymgr-audit-log-";

struct LedgerLogOptions {
  // The log's name: the checkpoint's first line and the audit keys' name. A schema-less URL
  // (C2SP tlog-checkpoint), e.g. "keymgr.example.com/ledger". Changing it starts a new log identity.
  std::string origin = "keymgr.local/ledger";
  std::chrono::milliseconds integrate_max_delay{1000};  // durable entry -> in the tree, at most
  int64_t integrate_batch = 65536;                       // entries per integration transaction
  std::chrono::seconds checkpoint_interval{10};          // the tree grew: sign at most this often
  // "auto": Ed25519 when the HSM can make Ed25519 keys, else ES256; or "Ed25519" / "ES256".
  std::string audit_key_alg = "auto";
  std::chrono::seconds audit_key_lifetime{std::chrono::hours(24 * 365)};
  std::chrono::seconds audit_key_overlap{std::chrono::hours(24 * 30)};
};

// Problems in LogReport::problem (first found).
struct LogReport {
  db::ChainReport chain;
  int64_t tree_size = 0;                 // integrated leaves checked against the entries
  int64_t checkpoints = 0;               // signed checkpoints stored
  int64_t checkpoints_checked = 0;       // == checkpoints when ok
  int64_t consistency_checked = 0;       // consecutive checkpoint pairs proven consistent
  std::optional<int64_t> bad_checkpoint_size;
  std::string problem;                   // "" when ok; else "tree_mismatch", "checkpoint_unverified", ...
  bool ok() const { return chain.ok && problem.empty(); }
};

struct InclusionProof {
  db::LedgerEntry entry;
  uint64_t index = 0;                    // leaf index (entry.seq - 1)
  std::string leaf_data;                 // ledger_canonical_encoding(entry): the leaf is SHA-256(0x00 ‖ this)
  db::merkle::Hash leaf_hash{};
  db::merkle::Proof path;
  db::TreeCheckpoint checkpoint;         // the signed checkpoint the path leads to (cosignatures merged)
};

struct ConsistencyProof {
  db::TreeCheckpoint from, to;           // `from` may be a size no checkpoint has (then note is "")
  db::merkle::Proof path;
};

struct AuditKeyView {
  db::AuditKeyRecord record;
  note::NoteKey key;                     // parsed from record.verifier_key
};

class LedgerLog {
 public:
  LedgerLog(hsm::Hsm& hsm, db::Store& store, const Clock& clock, LedgerLogOptions opts, Metrics* metrics = nullptr);
  ~LedgerLog();
  LedgerLog(const LedgerLog&) = delete;
  LedgerLog& operator=(const LedgerLog&) = delete;

  const LedgerLogOptions& options() const { return opts_; }

  // Called with each checkpoint once it is signed and stored (keymgr/witness_client.h: notify the
  // witnesses). Runs on the signing thread under the signing lock: it must return quickly and must
  // not call into this LedgerLog. REQUIRES: before start() and before any checkpoint() call.
  void set_on_checkpoint(std::function<void(const db::TreeCheckpoint&)> fn) { on_checkpoint_ = std::move(fn); }
  // Called with the report of every verify() that finds the ledger altered (the monitor's
  // audit_failure alert). Set before serving.
  void set_on_audit_failure(std::function<void(const LogReport&)> fn) { on_audit_failure_ = std::move(fn); }

  // Starts the integrator: integrates every integrate_max_delay / 4 and signs checkpoints when due.
  void start();
  void stop();

  // Several instances (keymgr/leadership.h): the integrator thread integrates, signs checkpoints
  // and manages audit keys only while `fence` returns one (this instance leads), and its writes
  // carry it. `on_stale` hears of each write refused as stale. Call before start().
  void set_fence_source(std::function<std::optional<db::Fence>()> fence,
                        std::function<void(const Status&)> on_stale = nullptr) {
    fence_ = std::move(fence);
    on_stale_ = std::move(on_stale);
  }

  // Integrates every durable entry not yet in the tree (in batches). Returns the new head.
  Result<db::TreeHead> integrate(const db::Fence* fence = nullptr);
  // Makes sure an audit key signs now: creates the first one, a successor when the current one
  // reaches its overlap, retires one past its lifetime. Unavailable if the HSM cannot be reached.
  Status ensure_keys();
  // Operator rotation: a new key signs from now alongside the current ones; those retire after
  // audit_key_overlap. Returns the new key.
  Result<AuditKeyView> rotate_key();
  // Signs a checkpoint of the tree as it is now, unless it has not grown since the newest one.
  // DataLoss "log_inconsistent" if the tree does not extend the newest signed checkpoint.
  Result<std::optional<db::TreeCheckpoint>> checkpoint(const db::Fence* fence = nullptr);

  // Every audit key ever used, oldest first.
  Result<std::vector<AuditKeyView>> keys();
  // The newest signed checkpoint with every stored witness cosignature appended to its note.
  Result<db::TreeCheckpoint> latest_checkpoint();
  // Signed checkpoints with size < before (0: all), newest first, cosignatures appended.
  Result<std::vector<db::TreeCheckpoint>> checkpoints(int64_t before, int limit);
  // Proof that ledger entry `seq` is in the newest signed checkpoint (FailedPrecondition
  // "not_checkpointed" while no checkpoint covers it yet).
  Result<InclusionProof> prove_entry(int64_t seq);
  // Consistency between sizes m <= n (n must be a checkpointed size, or 0 for the newest).
  Result<ConsistencyProof> prove_consistency(int64_t m, int64_t n);
  // The full audit (slow: reads everything). Checkpoint signatures are checked against `pinned`
  // when given (keys an auditor obtained out of band: a database writer cannot slip its own key
  // in), else against the audit keys stored in the database.
  Result<LogReport> verify(std::optional<std::vector<note::NoteKey>> pinned = std::nullopt);

  // Entries durable but not yet in the tree, and how long the oldest has waited.
  struct Lag {
    int64_t pending = 0;
    std::chrono::milliseconds oldest_age{0};
    bool behind = false;  // oldest_age > max(5 s, 5 x integrate_max_delay)
  };
  Result<Lag> lag();

 private:
  Result<std::vector<AuditKeyView>> load_keys();
  Result<AuditKeyView> create_key(int64_t now_s);
  Result<db::TreeCheckpoint> with_cosignatures(db::TreeCheckpoint cp);
  void run();

  hsm::Hsm& hsm_;
  db::Store& store_;
  const Clock& clock_;
  const LedgerLogOptions opts_;
  Metrics* metrics_;
  std::function<std::optional<db::Fence>()> fence_;
  std::function<void(const Status&)> on_stale_;
  std::function<void(const db::TreeCheckpoint&)> on_checkpoint_;  // set before start()
  std::function<void(const LogReport&)> on_audit_failure_;         // set before serving

  std::mutex sign_mu_;                 // checkpoint signing and key changes
  int64_t last_checkpoint_ms_ = 0;     // GUARDED_BY(sign_mu_)

  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stop_ = false;                  // GUARDED_BY(run_mu_)
  std::thread thread_;
};

// JSON views for the API and the CLI.
nlohmann::json audit_key_to_json(const AuditKeyView& k);
nlohmann::json tree_checkpoint_to_json(const db::TreeCheckpoint& cp);
nlohmann::json log_report_to_json(const LogReport& rep);

}  // namespace keymgr
