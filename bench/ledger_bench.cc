// Ledger benchmark: durable append rate (1 thread vs group commit), then fill + query latency, then
// the transparency log over the filled ledger (issue 12): integration rate, proof latency, storage.
//
//   ledger_bench [--dir DIR] [--records N] [--append-secs S] [--threads T] [--skip-append] [--keep]
//                [--skip-queries] [--skip-tree] [--tree-batch B] [--proofs P] [--hash-baseline-max K]
//                [--url postgresql://...]
//
// DIR must be on the disk to measure (default /tmp; not tmpfs here). Output: "RESULT ..." lines.
// --url: the append benchmark only, into that PostgreSQL database through db::open_store (the
// backend several instances share, issue 13); appends land in its intake (ledger_pending), which
// nothing sequences during the run. The fill, query and tree parts are SQLite's (file sizes,
// dbstat) and are skipped.
// Compare with /work/shared/PERF.md section 3 (sqlitebench.c), rerun close in time. Every tree
// figure has a baseline measured in the same run (see bench_tree).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include "db/ledger_hash.h"
#include "db/merkle.h"
#include "db/open_store.h"
#include "db/sqlite_store.h"
#include "db/store.h"

namespace {

using keymgr::Bytes;
using keymgr::Result;
using keymgr::db::ChangeSet;
using keymgr::db::CommitStats;
using keymgr::db::CommitStatsSource;
using keymgr::db::LedgerEntry;
using keymgr::db::LedgerQuery;
using keymgr::db::Store;
using keymgr::db::StoreOptions;
using keymgr::db::StoreTreeReader;
using keymgr::db::TreeHead;
namespace merkle = keymgr::db::merkle;
using Clock = std::chrono::steady_clock;

double secs_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const char kHex[] = "0123456789abcdef";

std::string rand_str(std::mt19937_64& rng, size_t n, const char* alphabet, size_t alen) {
  std::string s(n, ' ');
  for (auto& c : s) c = alphabet[rng() % alen];
  return s;
}

struct World {
  std::vector<std::string> kids, subs, actors, keysets, auds;
  explicit World(std::mt19937_64& rng) {
    for (int i = 0; i < 100; ++i) kids.push_back(rand_str(rng, 43, kB64, 64));  // RFC 7638 thumbprint
    for (int i = 0; i < 10000; ++i) subs.push_back("user-" + std::to_string(100000 + i));
    for (int i = 0; i < 20; ++i) actors.push_back("svc-" + std::to_string(i));
    for (int i = 0; i < 10; ++i) keysets.push_back("keyset-" + std::to_string(i));
    for (int i = 0; i < 5; ++i) auds.push_back("https://api" + std::to_string(i) + ".example.com");
  }
};

constexpr int64_t kTs0 = 1795000000000;  // ms
constexpr int kTsStepMs = 10;            // 100 records/s simulated rate

LedgerEntry make_entry(const World& w, std::mt19937_64& rng, int64_t i) {
  LedgerEntry e;
  e.ts_ms = kTs0 + i * kTsStepMs + static_cast<int64_t>(rng() % 5);
  size_t k = rng() % w.kids.size();
  e.kid = w.kids[k];
  e.keyset = w.keysets[k % w.keysets.size()];
  e.alg = "ES256";
  e.actor = w.actors[rng() % w.actors.size()];
  e.actor_addr = "10.0." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256);
  uint64_t r = rng() % 100;
  if (r == 0) {
    e.kind = "lifecycle";
    e.event = "key_activated";
    e.actor = "scheduler";
    e.actor_addr = "local";
    e.outcome = "ok";
    e.reason = "scheduled";
    e.detail = R"({"from":"pre-activation","to":"active"})";
    return e;
  }
  e.kind = "sign";
  e.event = "sign";
  e.jti = rand_str(rng, 22, kB64, 64);
  e.sub = w.subs[rng() % w.subs.size()];
  e.aud = w.auds[rng() % w.auds.size()];
  e.iat = e.ts_ms / 1000;
  e.exp = e.iat + 900;
  if (r < 3) {
    e.outcome = "refused";
    e.reason = "rate_limited";
  } else {
    e.outcome = "ok";
    e.token_sha256 = rand_str(rng, 64, kHex, 16);
  }
  e.detail = "{}";
  return e;
}

std::unique_ptr<Store> open_or_exit(const std::string& path, const StoreOptions& o = {}) {
  auto r = keymgr::db::open_sqlite_store(path, o);
  if (!r.ok()) {
    std::fprintf(stderr, "open: %s\n", r.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

void remove_db(const std::string& path) {
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path + s);
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// `url` empty: a new SQLite file under `dir`; else that PostgreSQL database as it is (appends add
// to its intake; the caller chooses a throwaway database).
void bench_append(const std::string& dir, const std::string& url, int threads, double secs) {
  std::string path = dir + "/ledger_bench_append.db";
  std::unique_ptr<Store> store;
  if (url.empty()) {
    remove_db(path);
    store = open_or_exit(path);
  } else {
    keymgr::db::StoreConfig cfg;
    cfg.location = url;
    auto r = keymgr::db::open_store(cfg);
    if (!r.ok()) {
      std::fprintf(stderr, "open %s: %s\n", keymgr::db::redact_database_url(url).c_str(), r.status().to_string().c_str());
      std::exit(1);
    }
    store = std::move(r).value();
  }
  std::mt19937_64 seed_rng(1);
  World w(seed_rng);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> errors{0};
  std::vector<std::vector<double>> lat(static_cast<size_t>(threads));
  std::vector<std::thread> ts;
  auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) + 100);
      int64_t i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        LedgerEntry e = make_entry(w, rng, i++);
        auto a = Clock::now();
        auto r = store->append_ledger(std::move(e));
        lat[static_cast<size_t>(t)].push_back(secs_since(a) * 1e3);
        if (!r.ok()) ++errors;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(secs));
  stop = true;
  for (auto& th : ts) th.join();
  double el = secs_since(t0);
  CommitStats st = dynamic_cast<CommitStatsSource*>(store.get())->commit_stats();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  auto rep = store->verify_chain();
  std::printf(
      "RESULT append backend=%s threads=%d records=%lld secs=%.2f records_per_s=%.0f commits=%lld commits_per_s=%.0f "
      "avg_batch=%.1f largest_batch=%lld append_p50_ms=%.3f append_p99_ms=%.3f errors=%lld chain_ok=%d\n",
      url.empty() ? "sqlite" : "postgresql", threads, static_cast<long long>(st.entries), el, static_cast<double>(st.entries) / el,
      static_cast<long long>(st.transactions), static_cast<double>(st.transactions) / el,
      st.transactions ? static_cast<double>(st.entries) / static_cast<double>(st.transactions) : 0.0,
      static_cast<long long>(st.largest_batch), pct(all, 0.5), pct(all, 0.99), static_cast<long long>(errors.load()),
      rep.ok() && rep->ok ? 1 : 0);
  std::fflush(stdout);
  store.reset();
  if (url.empty()) remove_db(path);
}

// ---- the transparency log (issue 12) ----

struct TreeBenchOptions {
  int64_t batch = 65536;               // entries per integrate_tree call (LedgerLogOptions::integrate_batch)
  int proofs = 20000;                  // timed proofs of each kind
  int64_t hash_baseline_max = 1000000; // entries hashed in memory for the CPU baseline (a rate: n-independent)
};

template <class T>
T must(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, r.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

// One raw sqlite3 connection for what the Store contract does not expose (sizes, the SQLite
// baseline). Closed before the next Store opens the file.
struct RawDb {
  sqlite3* db = nullptr;
  explicit RawDb(const std::string& path, bool read_only = false) {
    if (sqlite3_open_v2(path.c_str(), &db, read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE),
                        nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "sqlite3_open %s: %s\n", path.c_str(), sqlite3_errmsg(db));
      std::exit(1);
    }
  }
  ~RawDb() { sqlite3_close(db); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::fprintf(stderr, "%s: %s\n", sql, err ? err : "?");
      std::exit(1);
    }
  }
  // First column of the first row as an integer; -1 when the query fails (e.g. no dbstat).
  int64_t scalar(const char* sql) {
    sqlite3_stmt* st = nullptr;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
  }
};

uint64_t file_bytes(const std::string& p) {
  std::error_code ec;
  auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : n;
}

// Database bytes with the WAL folded in: a checkpoint on a separate connection first, then
// page_count * page_size (the file itself can be longer only by pages a checkpoint left behind).
struct DbSize {
  int64_t pages_bytes = 0;     // page_count * page_size - freelist
  uint64_t file_bytes = 0;     // main file + -wal after the checkpoint
  int64_t tree_table_bytes = -1;  // dbstat: pages of tree_hashes (-1 without SQLITE_ENABLE_DBSTAT_VTAB)
};
DbSize db_size(const std::string& path) {
  DbSize s;
  {
    RawDb db(path);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    s.pages_bytes = (db.scalar("PRAGMA page_count") - db.scalar("PRAGMA freelist_count")) * db.scalar("PRAGMA page_size");
    s.tree_table_bytes = db.scalar("SELECT sum(pgsize) FROM dbstat WHERE name = 'tree_hashes'");
  }
  s.file_bytes = file_bytes(path) + file_bytes(path + "-wal");
  return s;
}

// Stored hashes in memory (the in-memory baseline's tree).
class VectorHashReader final : public merkle::HashReader {
 public:
  explicit VectorHashReader(const std::vector<merkle::Hash>& v) : v_(v) {}
  Result<std::vector<merkle::Hash>> read_hashes(std::span<const uint64_t> indexes) const override {
    std::vector<merkle::Hash> out;
    out.reserve(indexes.size());
    for (uint64_t i : indexes) {
      if (i >= v_.size()) return keymgr::NotFound("index " + std::to_string(i), "tree_hash_missing");
      out.push_back(v_[i]);
    }
    return out;
  }

 private:
  const std::vector<merkle::Hash>& v_;
};

struct LatencyStats {
  double p50 = 0, p99 = 0, mean = 0;
};
LatencyStats timed(int iters, const std::function<void()>& fn) {
  for (int i = 0; i < std::min(iters / 10, 200); ++i) fn();  // warm
  std::vector<double> us;
  us.reserve(static_cast<size_t>(iters));
  for (int i = 0; i < iters; ++i) {
    auto a = Clock::now();
    fn();
    us.push_back(secs_since(a) * 1e6);
  }
  LatencyStats s;
  for (double x : us) s.mean += x;
  s.mean /= static_cast<double>(std::max<size_t>(us.size(), 1));
  s.p50 = pct(us, 0.5);
  s.p99 = pct(us, 0.99);
  return s;
}

// The Merkle tree over the filled ledger at `path` (no other store open on it), from an empty tree:
//   1. storage before;
//   2. integration: integrate_tree(batch) until the tree covers the ledger (entries/s), as
//      LedgerLog::integrate() calls it, on a durable store;
//   3. storage after: what the tree adds per million entries and as a fraction of the ledger;
//   4. baselines: (a) the same leaves hashed in memory — ledger_canonical_encoding + leaf_hash,
//      plus the chain check and node hashes integrate_tree also does — and the in-memory root must
//      equal the store's; (b) the same number of 32-byte blobs inserted into a bare SQLite table
//      with the store's settings (WAL, synchronous=FULL, one transaction per batch);
//   5. proofs via StoreTreeReader as LedgerLog serves them: inclusion of random leaves in the full
//      tree, consistency between random sizes; baseline: a point read of one ledger row by seq on
//      the same store. Every 20th proof is verified against roots read from the store.
// `records` labels the output (n=, the fill size, as the other RESULT lines); entries= is the
// ledger's actual size (the fill plus what append_into_large added).
void bench_tree(const std::string& dir, const std::string& path, int64_t records, const TreeBenchOptions& o) {
  {
    // A kept database may hold a tree from an earlier run: start from the empty tree.
    // (Freed pages stay in the file; the sizes below count pages in use.)
    RawDb db(path);
    if (db.scalar("SELECT size FROM tree_head") != 0) {
      db.exec("BEGIN; DELETE FROM tree_cosignatures; DELETE FROM tree_checkpoints; DELETE FROM tree_hashes; "
              "UPDATE tree_head SET size = 0, root = x'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', "
              "integrated_at_ms = 0 WHERE id = 1; COMMIT");
    }
  }
  const DbSize before = db_size(path);

  int64_t n = 0;
  {
    auto store = open_or_exit(path);
    n = must(store->ledger_size(), "ledger_size");
    std::vector<double> batch_ms;
    TreeHead head;
    auto t0 = Clock::now();
    for (;;) {
      auto a = Clock::now();
      head = must(store->integrate_tree(o.batch), "integrate_tree");
      batch_ms.push_back(secs_since(a) * 1e3);
      if (head.size >= n) break;
      if ((batch_ms.size() % 16) == 0) {
        std::fprintf(stderr, "  integrated %lld (%.0f/s)\n", static_cast<long long>(head.size),
                     static_cast<double>(head.size) / secs_since(t0));
      }
    }
    const double el = secs_since(t0);
    const double mean_ms = el * 1e3 / static_cast<double>(batch_ms.size());
    std::printf("RESULT tree_integrate n=%lld entries=%lld batch=%lld batches=%zu secs=%.2f entries_per_s=%.0f batch_mean_ms=%.1f "
                "batch_p50_ms=%.1f batch_max_ms=%.1f size_ok=%d\n",
                static_cast<long long>(records), static_cast<long long>(n), static_cast<long long>(o.batch), batch_ms.size(), el,
                static_cast<double>(n) / el, mean_ms, pct(batch_ms, 0.5), pct(batch_ms, 1.0), head.size == n ? 1 : 0);
    std::fflush(stdout);
  }
  const DbSize after = db_size(path);
  const double per_m = 1e6 / static_cast<double>(n);
  const int64_t added = after.pages_bytes - before.pages_bytes;

  // (b) raw SQLite: the same hashes as bare rows, one transaction per integration batch.
  double raw_sqlite_secs = 0;
  uint64_t raw_rows = merkle::stored_hash_count(static_cast<uint64_t>(n));
  int64_t raw_bytes = 0;
  {
    const std::string rpath = dir + "/ledger_bench_rawtree.db";
    remove_db(rpath);
    {
      RawDb db(rpath);
      db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
              "CREATE TABLE tree_hashes(idx INTEGER PRIMARY KEY, hash BLOB NOT NULL)");
      sqlite3_stmt* ins = nullptr;
      sqlite3_prepare_v2(db.db, "INSERT INTO tree_hashes(idx, hash) VALUES(?, ?)", -1, &ins, nullptr);
      std::mt19937_64 hr(3);
      uint8_t blob[32];
      auto t0 = Clock::now();
      uint64_t idx = 0;
      for (int64_t lo = 0; lo < n; lo += o.batch) {
        const uint64_t end = merkle::stored_hash_count(static_cast<uint64_t>(std::min(n, lo + o.batch)));
        db.exec("BEGIN");
        for (; idx < end; ++idx) {
          for (int w = 0; w < 4; ++w) {
            uint64_t x = hr();
            std::memcpy(blob + 8 * w, &x, 8);
          }
          sqlite3_bind_int64(ins, 1, static_cast<sqlite3_int64>(idx));
          sqlite3_bind_blob(ins, 2, blob, 32, SQLITE_TRANSIENT);
          if (sqlite3_step(ins) != SQLITE_DONE) {
            std::fprintf(stderr, "raw insert: %s\n", sqlite3_errmsg(db.db));
            std::exit(1);
          }
          sqlite3_reset(ins);
        }
        db.exec("COMMIT");
      }
      raw_sqlite_secs = secs_since(t0);
      sqlite3_finalize(ins);
    }
    raw_bytes = db_size(rpath).pages_bytes;
    remove_db(rpath);
  }
  std::printf("RESULT tree_baseline_sqlite n=%lld entries=%lld rows=%llu secs=%.2f rows_per_s=%.0f entries_per_s=%.0f "
              "bytes_per_million=%.0f\n",
              static_cast<long long>(records), static_cast<long long>(n), static_cast<unsigned long long>(raw_rows), raw_sqlite_secs,
              static_cast<double>(raw_rows) / raw_sqlite_secs, static_cast<double>(n) / raw_sqlite_secs,
              static_cast<double>(raw_bytes) * per_m);
  std::printf("RESULT tree_size n=%lld entries=%lld ledger_bytes=%lld with_tree_bytes=%lld added_bytes=%lld added_per_million=%.0f "
              "added_fraction=%.4f tree_table_bytes=%lld file_before=%llu file_after=%llu raw_table_per_million=%.0f\n",
              static_cast<long long>(records), static_cast<long long>(n), static_cast<long long>(before.pages_bytes),
              static_cast<long long>(after.pages_bytes), static_cast<long long>(added),
              static_cast<double>(added) * per_m, static_cast<double>(added) / static_cast<double>(before.pages_bytes),
              static_cast<long long>(after.tree_table_bytes), static_cast<unsigned long long>(before.file_bytes),
              static_cast<unsigned long long>(after.file_bytes), static_cast<double>(raw_bytes) * per_m);
  std::fflush(stdout);

  auto store = open_or_exit(path);
  StoreTreeReader reader(*store);
  const TreeHead head = must(store->tree_head(), "tree_head");
  const merkle::Hash root = must(merkle::hash_from_bytes(head.root), "root");
  const uint64_t size = static_cast<uint64_t>(head.size);

  // (a) in memory: the first K entries, read untimed in chunks, then hashed as integrate_tree does.
  {
    const int64_t k = std::min<int64_t>(n, o.hash_baseline_max);
    double t_leaf = 0, t_chain = 0, t_nodes = 0;
    std::vector<merkle::Hash> stored;
    stored.reserve(static_cast<size_t>(merkle::stored_hash_count(static_cast<uint64_t>(k))));
    VectorHashReader mem(stored);
    bool chain_ok = true;
    Bytes prev = keymgr::db::ledger_genesis_hash();
    for (int64_t lo = 1; lo <= k; lo += o.batch) {
      std::vector<LedgerEntry> chunk;
      auto st = store->scan_ledger(lo, std::min(k, lo + o.batch - 1), [&](const LedgerEntry& e) {
        chunk.push_back(e);
        return true;
      });
      if (!st.ok()) {
        std::fprintf(stderr, "scan_ledger: %s\n", st.to_string().c_str());
        std::exit(1);
      }
      std::vector<merkle::Hash> leaves;
      leaves.reserve(chunk.size());
      auto a = Clock::now();
      for (const auto& e : chunk) leaves.push_back(merkle::leaf_hash(keymgr::db::ledger_canonical_encoding(e)));
      t_leaf += secs_since(a);
      a = Clock::now();
      for (const auto& e : chunk) {
        Bytes h = keymgr::db::ledger_entry_hash(prev, e);
        chain_ok = chain_ok && h == e.hash;
        prev = std::move(h);
      }
      t_chain += secs_since(a);
      a = Clock::now();
      auto fresh = must(merkle::stored_hashes_for_leaves(static_cast<uint64_t>(lo - 1), leaves, mem),
                        "stored_hashes_for_leaves");
      stored.insert(stored.end(), fresh.begin(), fresh.end());
      t_nodes += secs_since(a);
    }
    const auto mem_root = must(merkle::tree_hash(static_cast<uint64_t>(k), mem), "in-memory root");
    const auto store_root = must(merkle::tree_hash(static_cast<uint64_t>(k), reader), "store root");
    const double kd = static_cast<double>(k);
    std::printf("RESULT tree_baseline_hash n=%lld entries=%lld k=%lld leaf_per_s=%.0f chain_per_s=%.0f nodes_per_s=%.0f "
                "cpu_per_s=%.0f chain_ok=%d root_ok=%d\n",
                static_cast<long long>(records), static_cast<long long>(n), static_cast<long long>(k), kd / t_leaf, kd / t_chain, kd / t_nodes,
                kd / (t_leaf + t_chain + t_nodes), chain_ok ? 1 : 0, mem_root == store_root ? 1 : 0);
    std::fflush(stdout);
  }

  std::mt19937_64 rng(11);
  auto read_entry = [&](int64_t seq) {
    std::optional<LedgerEntry> out;
    auto st = store->scan_ledger(seq, seq, [&](const LedgerEntry& e) {
      out = e;
      return false;
    });
    if (!st.ok() || !out) {
      std::fprintf(stderr, "read entry %lld failed\n", static_cast<long long>(seq));
      std::exit(1);
    }
    return *out;
  };
  // Call after the timed run: verified/failures are read when report() is called.
  auto report = [&](const char* name, const LatencyStats& s, int verified, int failures) {
    std::printf("RESULT tree_proof n=%lld entries=%lld name=%s p50_us=%.1f p99_us=%.1f mean_us=%.1f verified=%d failures=%d\n",
                static_cast<long long>(records), static_cast<long long>(n), name, s.p50, s.p99, s.mean, verified, failures);
    std::fflush(stdout);
  };

  // Baseline: one ledger row by seq (what LedgerLog's prove_entry reads besides the proof).
  report("point_read", timed(o.proofs, [&] { read_entry(1 + static_cast<int64_t>(rng() % size)); }), 0, 0);

  // Every 20th proof is kept and verified after the timed loop (so verification does not skew p99).
  std::vector<std::pair<uint64_t, merkle::Proof>> incl;
  int calls = 0;
  LatencyStats st = timed(o.proofs, [&] {
    const uint64_t i = rng() % size;
    auto p = must(merkle::inclusion_proof(i, size, reader), "inclusion_proof");
    if (++calls % 20 == 0) incl.emplace_back(i, std::move(p));
  });
  int failures = 0;
  for (const auto& [i, p] : incl) {
    const auto e = read_entry(static_cast<int64_t>(i) + 1);
    if (!merkle::verify_inclusion(merkle::leaf_hash(keymgr::db::ledger_canonical_encoding(e)), i, size, p, root).ok())
      ++failures;
  }
  report("inclusion", st, static_cast<int>(incl.size()), failures);

  // What prove_entry does around the proof: read the entry, encode and hash it, prove, verify.
  int verified = 0;
  failures = 0;
  st = timed(o.proofs / 4, [&] {
    const uint64_t i = rng() % size;
    const auto e = read_entry(static_cast<int64_t>(i) + 1);
    const auto leaf = merkle::leaf_hash(keymgr::db::ledger_canonical_encoding(e));
    auto p = must(merkle::inclusion_proof(i, size, reader), "inclusion_proof");
    ++verified;
    if (!merkle::verify_inclusion(leaf, i, size, p, root).ok()) ++failures;
  });
  report("inclusion_with_entry", st, verified, failures);

  struct Cons {
    uint64_t m, n;
    merkle::Proof p;
  };
  std::vector<Cons> cons;
  calls = 0;
  st = timed(o.proofs, [&] {
    uint64_t a = 1 + rng() % size, b = 1 + rng() % size;
    const uint64_t m = std::min(a, b), nn = std::max(a, b);
    auto p = must(merkle::consistency_proof(m, nn, reader), "consistency_proof");
    if (++calls % 20 == 0) cons.push_back(Cons{m, nn, std::move(p)});
  });
  failures = 0;
  for (const auto& c : cons) {
    const auto rm = must(merkle::tree_hash(c.m, reader), "root m");
    const auto rn = must(merkle::tree_hash(c.n, reader), "root n");
    if (!merkle::verify_consistency(c.m, c.n, c.p, rm, rn).ok()) ++failures;
  }
  // The roots above come from the same stored hashes as the proofs; tie them to the head's root once.
  if (must(merkle::tree_hash(size, reader), "root") != root) ++failures;
  report("consistency", st, static_cast<int>(cons.size()), failures);

  // To the full tree (what a monitor asks: its old checkpoint to the newest), with the old root
  // computed as prove_consistency does; verified against the stored head's root every time.
  verified = failures = 0;
  st = timed(o.proofs / 4, [&] {
    const uint64_t m = 1 + rng() % size;
    const auto rm = must(merkle::tree_hash(m, reader), "root m");
    auto p = must(merkle::consistency_proof(m, size, reader), "consistency_proof");
    ++verified;
    if (!merkle::verify_consistency(m, size, p, rm, root).ok()) ++failures;
  });
  report("consistency_to_head_with_root", st, verified, failures);
}

void bench_fill_and_query(const std::string& dir, int64_t n, bool keep, bool skip_queries, bool skip_tree,
                          const TreeBenchOptions& tree_opts) {
  std::string path = dir + "/ledger_bench_" + std::to_string(n) + ".db";
  std::mt19937_64 rng(42);
  World w(rng);
  std::vector<std::string> jtis;  // sample of existing jtis for hit lookups
  std::vector<std::string> tokens;
  bool reuse = keep && std::filesystem::exists(path);
  if (!reuse) {
    remove_db(path);
    StoreOptions o;
    o.unsafe_no_sync = true;  // fill only
    auto store = open_or_exit(path, o);
    auto t0 = Clock::now();
    constexpr int64_t kBatch = 10000;
    for (int64_t i = 0; i < n; i += kBatch) {
      ChangeSet cs;
      cs.ledger.reserve(kBatch);
      for (int64_t j = i; j < std::min(n, i + kBatch); ++j) cs.ledger.push_back(make_entry(w, rng, j));
      auto r = store->apply(cs);
      if (!r.ok()) {
        std::fprintf(stderr, "fill: %s\n", r.status().to_string().c_str());
        std::exit(1);
      }
      if ((i / kBatch) % 100 == 99) {
        std::fprintf(stderr, "  filled %lld (%.0f/s)\n", static_cast<long long>(i + kBatch),
                     static_cast<double>(i + kBatch) / secs_since(t0));
      }
    }
    double el = secs_since(t0);
    std::printf("RESULT fill records=%lld secs=%.1f records_per_s=%.0f\n", static_cast<long long>(n), el,
                static_cast<double>(n) / el);
    std::fflush(stdout);
  }

  if (skip_queries) {
    if (!skip_tree) bench_tree(dir, path, n, tree_opts);
    if (!keep) remove_db(path);
    return;
  }
  auto store = open_or_exit(path);
  // Collect real jtis/token hashes from random positions (through the public API).
  std::mt19937_64 qrng(7);
  while (jtis.size() < 2000) {
    LedgerQuery q;
    q.before_seq = 1 + static_cast<int64_t>(qrng() % static_cast<uint64_t>(n));
    q.limit = 1;
    q.kind = "sign";
    auto p = store->query_ledger(q);
    if (p.ok() && !p->entries.empty() && !p->entries[0].jti.empty()) {
      jtis.push_back(p->entries[0].jti);
      if (!p->entries[0].token_sha256.empty()) tokens.push_back(p->entries[0].token_sha256);
    }
  }
  const int64_t span_ms = n * kTsStepMs;

  auto run = [&](const char* name, int iters, const std::function<size_t()>& fn) {
    for (int i = 0; i < std::min(iters / 10, 200); ++i) fn();  // warm
    std::vector<double> us;
    us.reserve(static_cast<size_t>(iters));
    size_t rows = 0;
    for (int i = 0; i < iters; ++i) {
      auto a = Clock::now();
      rows += fn();
      us.push_back(secs_since(a) * 1e6);
    }
    double mean = 0;
    for (double x : us) mean += x;
    mean /= static_cast<double>(us.size());
    std::printf("RESULT query n=%lld name=%s p50_us=%.1f p99_us=%.1f mean_us=%.1f avg_rows=%.1f\n",
                static_cast<long long>(n), name, pct(us, 0.5), pct(us, 0.99), mean,
                static_cast<double>(rows) / iters);
    std::fflush(stdout);
  };
  auto kid_range = [&](int64_t window_ms) {
    return [&, window_ms]() -> size_t {
      LedgerQuery q;
      q.kid = w.kids[qrng() % w.kids.size()];
      int64_t from = kTs0 + static_cast<int64_t>(qrng() % static_cast<uint64_t>(std::max<int64_t>(1, span_ms - window_ms)));
      q.from_ms = from;
      q.to_ms = from + window_ms;
      q.limit = 100;
      auto p = store->query_ledger(q);
      return p.ok() ? p->entries.size() : 0;
    };
  };
  run("kid_10min_page100", 2000, kid_range(10 * 60 * 1000));
  run("kid_1h_page100", 2000, kid_range(3600 * 1000));
  run("kid_6h_page100", 500, kid_range(6 * 3600 * 1000));
  run("kid_only_page100", 500, [&]() -> size_t {
    LedgerQuery q;
    q.kid = w.kids[qrng() % w.kids.size()];
    q.limit = 100;
    auto p = store->query_ledger(q);
    return p.ok() ? p->entries.size() : 0;
  });
  run("keyset_only_page100", 500, [&]() -> size_t {
    LedgerQuery q;
    q.keyset = w.keysets[qrng() % w.keysets.size()];
    q.limit = 100;
    auto p = store->query_ledger(q);
    return p.ok() ? p->entries.size() : 0;
  });
  run("jti_hit", 20000, [&]() -> size_t {
    LedgerQuery q;
    q.jti = jtis[qrng() % jtis.size()];
    auto p = store->query_ledger(q);
    return p.ok() ? p->entries.size() : 0;
  });
  run("jti_miss", 20000, [&]() -> size_t {
    LedgerQuery q;
    q.jti = rand_str(qrng, 22, kB64, 64);
    auto p = store->query_ledger(q);
    return p.ok() ? p->entries.size() : 0;
  });
  run("token_sha256_hit", 20000, [&]() -> size_t {
    LedgerQuery q;
    q.token_sha256 = tokens[qrng() % tokens.size()];
    auto p = store->query_ledger(q);
    return p.ok() ? p->entries.size() : 0;
  });
  run("sub_page100", 2000, [&]() -> size_t {
    LedgerQuery q;
    q.sub = w.subs[qrng() % w.subs.size()];
    q.limit = 100;
    auto p = store->query_ledger(q);
    return p.ok() ? p->entries.size() : 0;
  });
  {
    // Durable appends into the large database (group commit, 64 threads, 3 s).
    std::atomic<bool> stop{false};
    std::atomic<int64_t> done{0};
    std::vector<std::thread> ts;
    auto t0 = Clock::now();
    for (int t = 0; t < 64; ++t) {
      ts.emplace_back([&, t] {
        std::mt19937_64 r(static_cast<uint64_t>(t) + 1000);
        int64_t i = n;
        while (!stop.load(std::memory_order_relaxed)) {
          if (store->append_ledger(make_entry(w, r, i++)).ok()) ++done;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::seconds(3));
    stop = true;
    for (auto& th : ts) th.join();
    std::printf("RESULT append_into_large n=%lld threads=64 records_per_s=%.0f\n", static_cast<long long>(n),
                static_cast<double>(done.load()) / secs_since(t0));
  }
  {
    auto t0 = Clock::now();
    auto rep = store->verify_chain();
    std::printf("RESULT verify_chain n=%lld secs=%.1f ok=%d\n", static_cast<long long>(n), secs_since(t0),
                rep.ok() && rep->ok ? 1 : 0);
  }
  store.reset();  // checkpoints the WAL into the main file
  auto bytes = std::filesystem::file_size(path);
  std::printf("RESULT size n=%lld bytes=%llu bytes_per_million=%.0f\n", static_cast<long long>(n),
              static_cast<unsigned long long>(bytes), static_cast<double>(bytes) * 1e6 / static_cast<double>(n));
  std::fflush(stdout);
  if (!skip_tree) bench_tree(dir, path, n, tree_opts);
  if (!keep) remove_db(path);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp";
  std::string url;
  int64_t records = 1000000;
  double append_secs = 4;
  bool skip_append = false, skip_fill = false, keep = false, skip_queries = false, skip_tree = false;
  TreeBenchOptions tree_opts;
  std::vector<int> thread_counts = {1, 64};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--dir") dir = next();
    else if (a == "--records") records = std::stoll(next());
    else if (a == "--append-secs") append_secs = std::stod(next());
    else if (a == "--threads") thread_counts = {std::stoi(next())};
    else if (a == "--skip-append") skip_append = true;
    else if (a == "--skip-fill") skip_fill = true;
    else if (a == "--keep") keep = true;
    else if (a == "--skip-queries") skip_queries = true;
    else if (a == "--skip-tree") skip_tree = true;
    else if (a == "--tree-batch") tree_opts.batch = std::stoll(next());
    else if (a == "--proofs") tree_opts.proofs = std::stoi(next());
    else if (a == "--hash-baseline-max") tree_opts.hash_baseline_max = std::stoll(next());
    else if (a == "--url") url = next();
    else {
      std::fprintf(stderr,
                   "usage: %s [--dir DIR] [--records N] [--append-secs S] [--threads T] [--skip-append] "
                   "[--skip-fill] [--keep] [--skip-queries] [--skip-tree] [--tree-batch B] [--proofs P] "
                   "[--hash-baseline-max K] [--url postgresql://...]\n",
                   argv[0]);
      return 2;
    }
  }
  if (!url.empty() && !keymgr::db::is_postgresql_url(url)) {
    std::fprintf(stderr, "--url must be a postgresql:// URL (a SQLite file goes under --dir)\n");
    return 2;
  }
  if (!skip_append) {
    for (int t : thread_counts) bench_append(dir, url, t, append_secs);
  }
  if (!url.empty()) return 0;  // fill, queries and tree: SQLite only
  if (!skip_fill) bench_fill_and_query(dir, records, keep, skip_queries, skip_tree, tree_opts);
  return 0;
}
