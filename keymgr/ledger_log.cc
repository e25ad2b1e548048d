#include "keymgr/ledger_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <map>

#include "common/crypto.h"
#include "db/ledger_hash.h"
#include "keymgr/tlog_text.h"

namespace keymgr {
namespace merkle = db::merkle;
using nlohmann::json;

namespace {

constexpr int64_t kVerifyBatch = 65536;

Algorithm hsm_alg(const std::string& alg) { return alg == "Ed25519" ? Algorithm::kEdDSA : Algorithm::kES256; }

note::SignFn signer(hsm::Hsm& hsm, const db::AuditKeyRecord& rec) {
  return [&hsm, id = rec.hsm_id, alg = hsm_alg(rec.alg)](std::string_view msg) { return hsm.sign(id, alg, msg); };
}

bool signs_at(const db::AuditKeyRecord& k, int64_t now_s) {
  return k.active_from <= now_s && (!k.retired_at || now_s < *k.retired_at);
}

Result<db::LedgerEntry> entry_at(db::Store& store, int64_t seq) {
  std::optional<db::LedgerEntry> out;
  RETURN_IF_ERROR(store.scan_ledger(seq, seq, [&](const db::LedgerEntry& e) {
    out = e;
    return false;
  }));
  if (!out) return NotFound("ledger entry " + std::to_string(seq) + " does not exist", "entry_not_found");
  return *out;
}

}  // namespace

LedgerLog::LedgerLog(hsm::Hsm& hsm, db::Store& store, const Clock& clock, LedgerLogOptions opts, Metrics* metrics)
    : hsm_(hsm), store_(store), clock_(clock), opts_(std::move(opts)), metrics_(metrics) {}

LedgerLog::~LedgerLog() { stop(); }

void LedgerLog::start() {
  std::lock_guard lk(run_mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void LedgerLog::stop() {
  {
    std::lock_guard lk(run_mu_);
    stop_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LedgerLog::run() {
  const auto tick = std::max(std::chrono::milliseconds(10), opts_.integrate_max_delay / 4);
  std::string last_error;  // log a failure when it starts or changes, not on every tick
  for (;;) {
    {
      std::unique_lock lk(run_mu_);
      if (run_cv_.wait_for(lk, tick, [&] { return stop_; })) return;
    }
    std::string err;
    std::optional<db::Fence> fence;
    if (fence_) {
      fence = fence_();
      if (!fence) continue;  // a follower: the leader integrates
    }
    const db::Fence* f = fence ? &*fence : nullptr;
    auto head = integrate(f);
    if (!head.ok()) {
      err = "integration: " + head.status().to_string();
      if (head.status().reason() == "stale_leader" && on_stale_) on_stale_(head.status());
    } else {
      bool due = false;
      {
        std::lock_guard lk(sign_mu_);
        due = to_unix_millis(clock_.now()) - last_checkpoint_ms_ >=
              std::chrono::duration_cast<std::chrono::milliseconds>(opts_.checkpoint_interval).count();
      }
      if (due) {
        auto cp = checkpoint(f);
        if (!cp.ok()) {
          err = "checkpoint: " + cp.status().to_string();
          if (cp.status().reason() == "stale_leader" && on_stale_) on_stale_(cp.status());
        }
      }
    }
    if (err != last_error) {
      if (!err.empty()) {
        spdlog::error("ledger log: {}", err);
        if (metrics_) metrics_->inc("keymgr_ledger_log_errors_total", "");
      } else {
        spdlog::info("ledger log: recovered");
      }
      last_error = err;
    }
  }
}

Result<db::TreeHead> LedgerLog::integrate(const db::Fence* fence) {
  for (;;) {
    ASSIGN_OR_RETURN(db::TreeHead before, store_.tree_head());
    ASSIGN_OR_RETURN(db::TreeHead after, store_.integrate_tree(opts_.integrate_batch, fence));
    if (after.size == before.size || after.size - before.size < opts_.integrate_batch) return after;
  }
}

// ---- audit keys ----

Result<std::vector<AuditKeyView>> LedgerLog::load_keys() {
  ASSIGN_OR_RETURN(auto recs, store_.list_audit_keys());
  std::vector<AuditKeyView> out;
  for (auto& r : recs) {
    auto k = note::parse_verifier_key(r.verifier_key);
    if (!k.ok()) {
      return DataLoss("stored audit key '" + r.verifier_key + "' is not a verifier key: " + k.status().message(),
                      "audit_key_malformed");
    }
    out.push_back(AuditKeyView{std::move(r), std::move(*k)});
  }
  return out;
}

Result<AuditKeyView> LedgerLog::create_key(int64_t now_s) {
  const auto algs = hsm_.supported_algorithms();
  const bool hsm_ed25519 = std::find(algs.begin(), algs.end(), Algorithm::kEdDSA) != algs.end();
  if (opts_.audit_key_alg == "Ed25519" && !hsm_ed25519) {
    return FailedPrecondition("ledger.audit_key_alg is Ed25519 but the HSM cannot make Ed25519 keys", "audit_key_unavailable");
  }
  const bool ed25519 = opts_.audit_key_alg == "Ed25519" || (opts_.audit_key_alg == "auto" && hsm_ed25519);
  ASSIGN_OR_RETURN(Bytes rnd, random_bytes(16));
  const std::string id = hex_encode(rnd);
  ASSIGN_OR_RETURN(hsm::KeyInfo info, hsm_.generate_key(ed25519 ? Algorithm::kEdDSA : Algorithm::kES256, id,
                                                        std::string(kAuditLogKeyLabelPrefix) + id));
  ASSIGN_OR_RETURN(note::NoteKey key, note::make_note_key(opts_.origin, ed25519 ? note::SigType::kEd25519
                                                                                : note::SigType::kEcdsa,
                                                          info.public_key));
  db::AuditKeyRecord rec{note::verifier_key_string(key), id, ed25519 ? "Ed25519" : "ES256", now_s, now_s,
                         std::nullopt};
  RETURN_IF_ERROR(store_.add_audit_key(rec));
  spdlog::info("ledger log: new audit key {} ({})", rec.verifier_key, rec.alg);
  return AuditKeyView{std::move(rec), std::move(key)};
}

Status LedgerLog::ensure_keys() {
  std::lock_guard lk(sign_mu_);
  const int64_t now = to_unix_seconds(clock_.now());
  ASSIGN_OR_RETURN(auto keys, load_keys());
  std::vector<AuditKeyView*> active;
  for (auto& k : keys) {
    if (signs_at(k.record, now) && k.key.name == opts_.origin) active.push_back(&k);
  }
  const int64_t lifetime = opts_.audit_key_lifetime.count();
  const int64_t overlap = std::min(opts_.audit_key_overlap.count(), lifetime);
  std::sort(active.begin(), active.end(),
            [](auto* a, auto* b) { return a->record.active_from < b->record.active_from; });
  // The youngest key decides whether a successor is due; older keys retire at their lifetime once a
  // younger one signs beside them.
  if (active.empty() || now - active.back()->record.active_from >= lifetime - overlap) {
    ASSIGN_OR_RETURN(AuditKeyView fresh, create_key(now));
    (void)fresh;
    ASSIGN_OR_RETURN(keys, load_keys());
    active.clear();
    for (auto& k : keys) {
      if (signs_at(k.record, now) && k.key.name == opts_.origin) active.push_back(&k);
    }
    std::sort(active.begin(), active.end(),
              [](auto* a, auto* b) { return a->record.active_from < b->record.active_from; });
  }
  for (size_t i = 0; i + 1 < active.size(); ++i) {
    if (now - active[i]->record.active_from >= lifetime) {
      RETURN_IF_ERROR(store_.retire_audit_key(active[i]->record.verifier_key, now));
      spdlog::info("ledger log: audit key {} retired", active[i]->record.verifier_key);
    }
  }
  return Status::Ok();
}

Result<AuditKeyView> LedgerLog::rotate_key() {
  std::lock_guard lk(sign_mu_);
  const int64_t now = to_unix_seconds(clock_.now());
  ASSIGN_OR_RETURN(auto keys, load_keys());
  ASSIGN_OR_RETURN(AuditKeyView fresh, create_key(now));
  const int64_t retire_at = now + opts_.audit_key_overlap.count();
  for (auto& k : keys) {
    if (signs_at(k.record, now) && (!k.record.retired_at || *k.record.retired_at > retire_at)) {
      RETURN_IF_ERROR(store_.retire_audit_key(k.record.verifier_key, retire_at));
    }
  }
  return fresh;
}

Result<std::vector<AuditKeyView>> LedgerLog::keys() { return load_keys(); }

// ---- checkpoints ----

Result<std::optional<db::TreeCheckpoint>> LedgerLog::checkpoint(const db::Fence* fence) {
  RETURN_IF_ERROR(ensure_keys());
  std::lock_guard lk(sign_mu_);
  const int64_t now_ms = to_unix_millis(clock_.now());
  ASSIGN_OR_RETURN(db::TreeHead head, store_.tree_head());
  std::optional<db::TreeCheckpoint> last;
  if (auto l = store_.tree_checkpoint_at_most(std::numeric_limits<int64_t>::max()); l.ok()) {
    last = *l;
  } else if (l.status().code() != ErrorCode::kNotFound) {
    return l.status();
  }
  if (head.size == 0 || (last && last->size == head.size)) {
    last_checkpoint_ms_ = now_ms;
    return std::optional<db::TreeCheckpoint>{};
  }
  ASSIGN_OR_RETURN(merkle::Hash root, merkle::hash_from_bytes(head.root));
  if (last) {
    // Never sign a view that does not extend what was signed before: the newest checkpoint's own
    // signed text must carry its root, and the stored tree must prove consistency with it.
    auto parsed = note::parse_note(last->note);
    if (!parsed.ok()) return DataLoss("the newest signed checkpoint is not a signed note", "log_inconsistent");
    auto body = tlog::parse_checkpoint(parsed->text);
    if (!body.ok() || static_cast<int64_t>(body->size) != last->size ||
        merkle::hash_bytes(body->root) != last->root) {
      return DataLoss("the newest signed checkpoint's text does not match its stored size and root",
                      "log_inconsistent");
    }
    db::StoreTreeReader reader(store_);
    ASSIGN_OR_RETURN(merkle::Proof proof, merkle::consistency_proof(static_cast<uint64_t>(last->size),
                                                                    static_cast<uint64_t>(head.size), reader));
    Status st = merkle::verify_consistency(static_cast<uint64_t>(last->size), static_cast<uint64_t>(head.size), proof,
                                           body->root, root);
    if (!st.ok()) {
      if (metrics_) metrics_->inc("keymgr_ledger_inconsistencies_total", "");
      return DataLoss("the tree of size " + std::to_string(head.size) + " does not extend the signed checkpoint of size " +
                          std::to_string(last->size) + ": refusing to sign (" + st.message() + ")",
                      "log_inconsistent");
    }
  }
  tlog::Checkpoint body{opts_.origin, static_cast<uint64_t>(head.size), root, {}};
  note::SignedNote signed_note;
  ASSIGN_OR_RETURN(signed_note.text, tlog::format_checkpoint(body));
  ASSIGN_OR_RETURN(auto keys, load_keys());
  const int64_t now_s = now_ms / 1000;
  for (const auto& k : keys) {
    if (!signs_at(k.record, now_s) || k.key.name != opts_.origin) continue;
    ASSIGN_OR_RETURN(note::NoteSignature sig, note::sign_note(signed_note.text, k.key, signer(hsm_, k.record)));
    signed_note.sigs.push_back(std::move(sig));
  }
  if (signed_note.sigs.empty()) return Unavailable("no audit key may sign now", "audit_key_unavailable");
  ASSIGN_OR_RETURN(std::string text, note::format_note(signed_note));
  db::TreeCheckpoint cp{head.size, head.root, now_ms, std::move(text)};
  RETURN_IF_ERROR(store_.add_tree_checkpoint(cp, fence));
  last_checkpoint_ms_ = now_ms;
  if (metrics_) metrics_->inc("keymgr_ledger_checkpoints_total", "");
  if (on_checkpoint_) on_checkpoint_(cp);
  return std::optional<db::TreeCheckpoint>{std::move(cp)};
}

Result<db::TreeCheckpoint> LedgerLog::with_cosignatures(db::TreeCheckpoint cp) {
  ASSIGN_OR_RETURN(auto cos, store_.list_cosignatures(cp.size));
  for (const auto& c : cos) cp.note += c.signature_line;
  return cp;
}

Result<db::TreeCheckpoint> LedgerLog::latest_checkpoint() {
  ASSIGN_OR_RETURN(db::TreeCheckpoint cp, store_.tree_checkpoint_at_most(std::numeric_limits<int64_t>::max()));
  return with_cosignatures(std::move(cp));
}

Result<std::vector<db::TreeCheckpoint>> LedgerLog::checkpoints(int64_t before, int limit) {
  ASSIGN_OR_RETURN(auto cps, store_.list_tree_checkpoints(before, limit));
  for (auto& cp : cps) {
    ASSIGN_OR_RETURN(cp, with_cosignatures(std::move(cp)));
  }
  return cps;
}

// ---- proofs ----

Result<InclusionProof> LedgerLog::prove_entry(int64_t seq) {
  if (seq < 1) return InvalidArgument("seq must be >= 1", "bad_query");
  ASSIGN_OR_RETURN(db::TreeCheckpoint cp, latest_checkpoint());
  if (seq > cp.size) {
    return FailedPrecondition("entry " + std::to_string(seq) + " is not covered by a signed checkpoint yet (newest covers " +
                                  std::to_string(cp.size) + " entries); it will be within " +
                                  std::to_string(opts_.checkpoint_interval.count() + 1) + " s",
                              "not_checkpointed");
  }
  InclusionProof p;
  ASSIGN_OR_RETURN(p.entry, entry_at(store_, seq));
  p.index = static_cast<uint64_t>(seq - 1);
  p.leaf_data = db::ledger_canonical_encoding(p.entry);
  p.leaf_hash = merkle::leaf_hash(p.leaf_data);
  db::StoreTreeReader reader(store_);
  ASSIGN_OR_RETURN(p.path, merkle::inclusion_proof(p.index, static_cast<uint64_t>(cp.size), reader));
  ASSIGN_OR_RETURN(merkle::Hash root, merkle::hash_from_bytes(cp.root));
  // Hand out only what verifies: a proof that fails here means the stored tree or entry changed.
  if (Status st = merkle::verify_inclusion(p.leaf_hash, p.index, static_cast<uint64_t>(cp.size), p.path, root);
      !st.ok()) {
    return DataLoss("entry " + std::to_string(seq) + " does not prove into the signed checkpoint: " + st.message(),
                    "log_inconsistent");
  }
  p.checkpoint = std::move(cp);
  return p;
}

Result<ConsistencyProof> LedgerLog::prove_consistency(int64_t m, int64_t n) {
  ConsistencyProof p;
  if (n == 0) {
    ASSIGN_OR_RETURN(p.to, latest_checkpoint());
  } else {
    ASSIGN_OR_RETURN(p.to, store_.tree_checkpoint_at_most(n));
    if (p.to.size != n) return NotFound("no signed checkpoint has size " + std::to_string(n), "no_checkpoint");
    ASSIGN_OR_RETURN(p.to, with_cosignatures(std::move(p.to)));
  }
  if (m < 0 || m > p.to.size) {
    return InvalidArgument("old size " + std::to_string(m) + " must be 0.." + std::to_string(p.to.size), "bad_query");
  }
  db::StoreTreeReader reader(store_);
  p.from.size = m;
  ASSIGN_OR_RETURN(merkle::Hash root_m, merkle::tree_hash(static_cast<uint64_t>(m), reader));
  p.from.root = merkle::hash_bytes(root_m);
  if (auto cp = store_.tree_checkpoint_at_most(m); cp.ok() && cp->size == m) {
    ASSIGN_OR_RETURN(p.from, with_cosignatures(std::move(*cp)));
  }
  ASSIGN_OR_RETURN(p.path, merkle::consistency_proof(static_cast<uint64_t>(m), static_cast<uint64_t>(p.to.size), reader));
  return p;
}

// ---- the full audit ----

Result<LogReport> LedgerLog::verify(std::optional<std::vector<note::NoteKey>> pinned) {
  LogReport rep;
  ASSIGN_OR_RETURN(rep.chain, store_.verify_chain());
  ASSIGN_OR_RETURN(db::TreeHead head, store_.tree_head());
  std::vector<note::NoteKey> known;
  if (pinned) {
    known = std::move(*pinned);
  } else {
    ASSIGN_OR_RETURN(auto keys, load_keys());
    for (const auto& k : keys) known.push_back(k.key);
  }

  // Every checkpoint, oldest first.
  std::vector<db::TreeCheckpoint> cps;
  for (int64_t before = 0;;) {
    ASSIGN_OR_RETURN(auto page, store_.list_tree_checkpoints(before, 1000));
    if (page.empty()) break;
    before = page.back().size;
    for (auto& cp : page) cps.push_back(std::move(cp));
    if (before <= 0) break;
  }
  std::reverse(cps.begin(), cps.end());
  rep.checkpoints = static_cast<int64_t>(cps.size());
  auto fail = [&](std::string problem, std::optional<int64_t> size) {
    if (rep.problem.empty()) {
      rep.problem = std::move(problem);
      rep.bad_checkpoint_size = size;
    }
  };

  // Recompute the tree from the entries, batch by batch, and compare every stored hash. Batches end
  // at checkpoint sizes so each checkpoint's root is computed from hashes already compared.
  std::map<uint64_t, merkle::Hash> frontier;  // recomputed right-frontier hashes (≤ 64)
  struct MapReader final : merkle::HashReader {
    const std::map<uint64_t, merkle::Hash>& m;
    explicit MapReader(const std::map<uint64_t, merkle::Hash>& mm) : m(mm) {}
    Result<std::vector<merkle::Hash>> read_hashes(std::span<const uint64_t> idx) const override {
      std::vector<merkle::Hash> out;
      for (uint64_t i : idx) {
        auto it = m.find(i);
        if (it == m.end()) return Internal("frontier hash " + std::to_string(i) + " missing");
        out.push_back(it->second);
      }
      return out;
    }
  } frontier_reader(frontier);
  db::StoreTreeReader stored(store_);
  size_t next_cp = 0;
  int64_t n = 0;
  std::optional<db::TreeCheckpoint> prev_cp;
  while (rep.problem.empty()) {
    while (next_cp < cps.size() && cps[next_cp].size <= n) {
      // Checkpoint at size n: signed by a known key, text = stored size and root = recomputed root.
      const db::TreeCheckpoint& cp = cps[next_cp++];
      auto parsed = note::parse_note(cp.note);
      if (!parsed.ok()) {
        fail("checkpoint_malformed", cp.size);
        break;
      }
      auto verified = note::verify_note(*parsed, known);
      if (!verified.ok()) {
        fail(verified.status().reason() == "note_bad_signature" ? "checkpoint_bad_signature" : "checkpoint_unverified",
             cp.size);
        break;
      }
      auto body = tlog::parse_checkpoint(parsed->text);
      if (!body.ok() || static_cast<int64_t>(body->size) != cp.size || merkle::hash_bytes(body->root) != cp.root) {
        fail("checkpoint_malformed", cp.size);
        break;
      }
      auto root = merkle::tree_hash(static_cast<uint64_t>(cp.size), stored);
      if (!root.ok() || *root != body->root) {
        fail("checkpoint_mismatch", cp.size);
        break;
      }
      if (prev_cp) {
        auto proof = merkle::consistency_proof(static_cast<uint64_t>(prev_cp->size), static_cast<uint64_t>(cp.size), stored);
        auto old_root = merkle::hash_from_bytes(prev_cp->root);
        if (!proof.ok() || !old_root.ok() ||
            !merkle::verify_consistency(static_cast<uint64_t>(prev_cp->size), static_cast<uint64_t>(cp.size), *proof,
                                        *old_root, *root)
                 .ok()) {
          fail("checkpoints_inconsistent", cp.size);
          break;
        }
        ++rep.consistency_checked;
      }
      ++rep.checkpoints_checked;
      prev_cp = cp;
    }
    if (!rep.problem.empty() || n >= head.size) break;
    int64_t end = std::min(n + kVerifyBatch, head.size);
    if (next_cp < cps.size()) end = std::min(end, cps[next_cp].size);
    std::vector<merkle::Hash> leaves;
    Status scan = store_.scan_ledger(n + 1, end, [&](const db::LedgerEntry& e) {
      leaves.push_back(merkle::leaf_hash(db::ledger_canonical_encoding(e)));
      return true;
    });
    RETURN_IF_ERROR(scan);
    if (static_cast<int64_t>(leaves.size()) != end - n) {
      fail("tree_mismatch", std::nullopt);  // the tree covers entries that are gone
      break;
    }
    ASSIGN_OR_RETURN(auto fresh, merkle::stored_hashes_for_leaves(static_cast<uint64_t>(n), leaves, frontier_reader));
    const uint64_t base = merkle::stored_hash_count(static_cast<uint64_t>(n));
    size_t i = 0;
    bool same = true;
    RETURN_IF_ERROR(store_.scan_tree_hashes(base, [&](uint64_t idx, const Bytes& h) {
      if (i >= fresh.size()) return false;
      if (idx != base + i || h != merkle::hash_bytes(fresh[i])) {
        same = false;
        return false;
      }
      ++i;
      return true;
    }));
    if (!same || i != fresh.size()) {
      fail("tree_mismatch", std::nullopt);
      break;
    }
    // Keep only the new tree's right frontier (what the next batch reads).
    for (size_t j = 0; j < fresh.size(); ++j) frontier[base + j] = fresh[j];
    n = end;
    std::map<uint64_t, merkle::Hash> keep;
    for (int level = 0; level < 64; ++level) {
      const uint64_t k = static_cast<uint64_t>(n) >> level;
      if (k == 0) break;
      if (k & 1) {
        const uint64_t idx = merkle::stored_hash_index(level, k - 1);
        if (auto it = frontier.find(idx); it != frontier.end()) keep.emplace(idx, it->second);
      }
    }
    frontier = std::move(keep);
  }
  rep.tree_size = n;
  if (rep.problem.empty() && next_cp < cps.size()) fail("checkpoint_beyond_tree", cps[next_cp].size);
  if (!rep.ok() && on_audit_failure_) on_audit_failure_(rep);
  return rep;
}

Result<LedgerLog::Lag> LedgerLog::lag() {
  Lag lag;
  ASSIGN_OR_RETURN(db::TreeHead head, store_.tree_head());
  ASSIGN_OR_RETURN(int64_t size, store_.ledger_size());
  lag.pending = std::max<int64_t>(0, size - head.size);
  if (lag.pending > 0) {
    auto e = entry_at(store_, head.size + 1);
    if (e.ok()) {
      lag.oldest_age = std::chrono::milliseconds(std::max<int64_t>(0, to_unix_millis(clock_.now()) - e->ts_ms));
    }
  }
  lag.behind = lag.oldest_age > std::max<std::chrono::milliseconds>(std::chrono::seconds(5), 5 * opts_.integrate_max_delay);
  return lag;
}

json audit_key_to_json(const AuditKeyView& k) {
  json j = {{"verifier_key", k.record.verifier_key},
            {"name", k.key.name},
            {"key_id", [&] {
               char buf[9];
               snprintf(buf, sizeof buf, "%08x", k.key.key_id);
               return std::string(buf);
             }()},
            {"alg", k.record.alg},
            {"created_at", k.record.created_at},
            {"active_from", k.record.active_from},
            {"retired_at", k.record.retired_at ? json(*k.record.retired_at) : json(nullptr)}};
  return j;
}

json log_report_to_json(const LogReport& rep) {
  json j = {{"ok", rep.ok()},
            {"entries", rep.chain.entries},
            {"head", hex_encode(rep.chain.head)},
            {"tree_size", rep.tree_size},
            {"checkpoints", rep.checkpoints},
            {"checkpoints_checked", rep.checkpoints_checked},
            {"consistency_checked", rep.consistency_checked}};
  if (rep.chain.first_bad_seq) j["first_bad_seq"] = *rep.chain.first_bad_seq;
  if (!rep.chain.problem.empty()) j["problem"] = rep.chain.problem;
  if (!rep.problem.empty()) j["log_problem"] = rep.problem;
  if (rep.bad_checkpoint_size) j["bad_checkpoint_size"] = *rep.bad_checkpoint_size;
  return j;
}

json tree_checkpoint_to_json(const db::TreeCheckpoint& cp) {
  return {{"size", cp.size}, {"root", base64_encode(cp.root)}, {"ts_ms", cp.ts_ms}, {"note", cp.note}};
}

}  // namespace keymgr
