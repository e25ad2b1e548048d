// Ledger benchmark: durable append rate (1 thread vs group commit), then fill + query latency.
//
//   ledger_bench [--dir DIR] [--records N] [--append-secs S] [--threads T] [--skip-append] [--keep]
//
// DIR must be on the disk to measure (default /tmp; not tmpfs here). Output: "RESULT ..." lines.
// Compare with /work/shared/PERF.md section 3 (sqlitebench.c), rerun close in time.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "db/sqlite_store.h"
#include "db/store.h"

namespace {

using keymgr::db::ChangeSet;
using keymgr::db::CommitStats;
using keymgr::db::CommitStatsSource;
using keymgr::db::LedgerEntry;
using keymgr::db::LedgerQuery;
using keymgr::db::Store;
using keymgr::db::StoreOptions;
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

void bench_append(const std::string& dir, int threads, double secs) {
  std::string path = dir + "/ledger_bench_append.db";
  remove_db(path);
  auto store = open_or_exit(path);
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
      "RESULT append threads=%d records=%lld secs=%.2f records_per_s=%.0f commits=%lld commits_per_s=%.0f "
      "avg_batch=%.1f largest_batch=%lld append_p50_ms=%.3f append_p99_ms=%.3f errors=%lld chain_ok=%d\n",
      threads, static_cast<long long>(st.entries), el, static_cast<double>(st.entries) / el,
      static_cast<long long>(st.transactions), static_cast<double>(st.transactions) / el,
      st.transactions ? static_cast<double>(st.entries) / static_cast<double>(st.transactions) : 0.0,
      static_cast<long long>(st.largest_batch), pct(all, 0.5), pct(all, 0.99), static_cast<long long>(errors.load()),
      rep.ok() && rep->ok ? 1 : 0);
  std::fflush(stdout);
  store.reset();
  remove_db(path);
}

void bench_fill_and_query(const std::string& dir, int64_t n, bool keep) {
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
  if (!keep) remove_db(path);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp";
  int64_t records = 1000000;
  double append_secs = 4;
  bool skip_append = false, skip_fill = false, keep = false;
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
    else {
      std::fprintf(stderr,
                   "usage: %s [--dir DIR] [--records N] [--append-secs S] [--threads T] [--skip-append] "
                   "[--skip-fill] [--keep]\n",
                   argv[0]);
      return 2;
    }
  }
  if (!skip_append) {
    for (int t : thread_counts) bench_append(dir, t, append_secs);
  }
  if (!skip_fill) bench_fill_and_query(dir, records, keep);
  return 0;
}
