// Scheduler tick time on an existing keymgr data directory (run on a COPY: ticks that are due
// change the database and the token).
//
//   tick_bench DB_PATH PIN_FILE TOKEN_LABEL [--ticks N] [--advance-days D] [--module PATH]
//
// Opens the database and the HSM exactly as `keymgr serve` does (db::open_store,
// hsm::open_pkcs11_hsm, KeyService::load), then times Scheduler::tick():
//   * "load"   : KeyService::load() (start-up repair included);
//   * "first"  : the first tick (runs reconcile again, see keymgr/scheduler.cc);
//   * "idle"   : ticks 2..N+1 at the real time (nothing due), p50/min/max;
//   * "due"    : with --advance-days D, the ManualClock is then moved D days ahead and one tick is
//                timed (keysets whose rotation window has opened by then are due (bench/run.sh creates 1% of keysets with a shorter
// sign_period for this), then the tick after it. Output: "RESULT tick ..." lines (key=value).
// Built by bench/run.sh with g++ against build-bench's static libraries (no CMake target).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "db/open_store.h"
#include "db/store.h"
#include "hsm/pkcs11_hsm.h"
#include "keymgr/key_service.h"
#include "keymgr/scheduler.h"

using namespace keymgr;
using SteadyClock = std::chrono::steady_clock;

static double ms_since(SteadyClock::time_point t0) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s DB_PATH PIN_FILE TOKEN_LABEL [--ticks N] [--advance-days D] [--module PATH]\n",
                 argv[0]);
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // results survive a crash later on
  std::string db_path = argv[1], pin_file = argv[2], label = argv[3];
  std::string module = "/usr/lib/softhsm/libsofthsm2.so";
  int ticks = 5;
  double advance_days = 0;
  for (int i = 4; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--ticks") ticks = std::max(1, std::atoi(next().c_str()));
    else if (a == "--advance-days") advance_days = std::atof(next().c_str());
    else if (a == "--module") module = next();
    else { std::fprintf(stderr, "unknown argument %s\n", a.c_str()); return 2; }
  }
  std::string pin;
  {
    std::ifstream f(pin_file);
    std::getline(f, pin);
  }

  auto t_open = SteadyClock::now();
  db::StoreConfig sc;
  sc.location = db_path;
  auto store = db::open_store(sc);
  if (!store.ok()) { std::fprintf(stderr, "store: %s\n", store.status().to_string().c_str()); return 1; }
  hsm::Pkcs11Options ho;
  ho.module_path = module;
  ho.token_label = label;
  ho.pin = Secret(pin);
  auto h = hsm::open_pkcs11_hsm(std::move(ho));
  if (!h.ok()) { std::fprintf(stderr, "hsm: %s\n", h.status().to_string().c_str()); return 1; }
  const double open_ms = ms_since(t_open);

  ManualClock clock(std::chrono::system_clock::now());
  KeyService keys(**h, **store, clock);
  auto t_load = SteadyClock::now();
  auto rep = keys.load();
  if (!rep.ok()) { std::fprintf(stderr, "load: %s\n", rep.status().to_string().c_str()); return 1; }
  const double load_ms = ms_since(t_load);
  const size_t n_keysets = keys.keysets().size();

  auto count_keys = [&] {
    size_t n = 0;
    for (const auto& ks : keys.keysets()) n += ks->keys.size();
    return n;
  };
  Scheduler sched(keys, std::chrono::milliseconds(10000));  // never start()ed: ticks are called here
  auto timed_tick = [&](TickReport& r) {
    auto t0 = SteadyClock::now();
    r = sched.tick();
    return ms_since(t0);
  };
  TickReport r;
  const double first_ms = timed_tick(r);  // includes reconcile (first tick of a process)
  const int first_failed = r.failed;
  std::vector<double> steady;
  int failed = 0;
  for (int i = 0; i < ticks; ++i) {
    steady.push_back(timed_tick(r));
    failed += r.failed;
  }
  std::sort(steady.begin(), steady.end());
  std::printf(
      "RESULT tick keysets=%zu open_ms=%.1f load_ms=%.1f first_ms=%.2f first_failed=%d ticks=%zu "
      "idle_p50_ms=%.2f idle_min_ms=%.2f idle_max_ms=%.2f idle_failed=%d\n",
      n_keysets, open_ms, load_ms, first_ms, first_failed, steady.size(), steady[steady.size() / 2], steady.front(),
      steady.back(), failed);
  if (advance_days > 0) {
    const size_t before = count_keys();
    clock.advance(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::duration<double>(advance_days * 86400)));
    const double due_ms = timed_tick(r);
    const size_t generated = count_keys() - before;
    const int due_failed = r.failed;
    const double after_ms = timed_tick(r);
    std::printf(
        "RESULT tick_due keysets=%zu advance_days=%.2f due_tick_ms=%.2f keys_generated=%zu due_failed=%d "
        "next_tick_ms=%.2f\n",
        n_keysets, advance_days, due_ms, generated, due_failed, after_ms);
  }
  return 0;
}
