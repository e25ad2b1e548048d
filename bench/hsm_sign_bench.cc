// Signatures per second through keymgr's HSM layer (hsm::open_pkcs11_hsm), token keys,
// 1 and 2 threads, for ES256, RS256 and EdDSA. Compare with the raw PKCS#11 rate of
// /work/shared/perf-baseline/p11bench.c (bench/hsm_bench.sh runs both on fresh tokens).
//
// Usage: SOFTHSM2_CONF=... hsm_sign_bench TOKEN_LABEL [seconds=1.5]   (PIN from $KM_BENCH_PIN)
// Output: one "RESULT layer=keymgr alg=.. threads=.. signs_per_s=.. us_per_sign_thread=.." line per cell.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "hsm/pkcs11_hsm.h"
#include "hsm/public_key.h"

using namespace keymgr;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s TOKEN_LABEL [seconds]\n", argv[0]);
    return 2;
  }
  const double secs = argc > 2 ? std::atof(argv[2]) : 1.5;
  auto pin = load_secret("", "KM_BENCH_PIN", "bench PIN");
  if (!pin.ok()) {
    std::fprintf(stderr, "%s\n", pin.status().to_string().c_str());
    return 2;
  }
  hsm::Pkcs11Options opts;
  opts.token_label = argv[1];
  opts.pin = *pin;
  opts.pool_size = 2;
  auto opened = hsm::open_pkcs11_hsm(std::move(opts));
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().to_string().c_str());
    return 1;
  }
  hsm::Hsm& h = **opened;
  // A typical JWS signing input (~230 bytes): ECDSA hashes it host-side, RSA/EdDSA send it whole.
  const std::string input =
      "eyJhbGciOiJFUzI1NiIsImtpZCI6ImtleS0yMDI2LTExLTI1IiwidHlwIjoiSldUIn0."
      "eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwic3ViIjoidXNlci0xMjM0NSIsImF1ZCI6ImFwaSIsImlhdCI6MTc2NDAw"
      "MDAwMCwiZXhwIjoxNzY0MDAzNjAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ";
  int n = 0;
  for (Algorithm alg : {Algorithm::kES256, Algorithm::kRS256, Algorithm::kEdDSA}) {
    const std::string id = "be0" + std::to_string(n++);
    auto t0 = std::chrono::steady_clock::now();
    auto key = h.generate_key(alg, id, "bench");
    if (!key.ok()) {
      std::fprintf(stderr, "generate %s: %s\n", std::string(algorithm_name(alg)).c_str(),
                   key.status().to_string().c_str());
      continue;
    }
    std::printf("KEYGEN layer=keymgr alg=%s ms=%.1f\n", std::string(algorithm_name(alg)).c_str(),
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    auto sig = h.sign(id, alg, input);
    if (!sig.ok() || !hsm::verify_jws_signature(key->public_key, alg, input, *sig).ok()) {
      std::fprintf(stderr, "sign/verify %s failed\n", std::string(algorithm_name(alg)).c_str());
      return 1;
    }
    for (int threads : {1, 2}) {
      for (double dur : {0.3, secs}) {  // warm-up, then the measured run
        std::atomic<long> ops{0}, errors{0};
        std::atomic<bool> stop{false};
        std::vector<std::thread> pool;
        auto start = std::chrono::steady_clock::now();
        for (int t = 0; t < threads; ++t) {
          pool.emplace_back([&] {
            long mine = 0;
            while (!stop.load(std::memory_order_relaxed)) {
              if (h.sign(id, alg, input).ok()) ++mine;
              else ++errors;
            }
            ops += mine;
          });
        }
        std::this_thread::sleep_for(std::chrono::duration<double>(dur));
        stop = true;
        for (auto& th : pool) th.join();
        double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (dur != secs) continue;
        std::printf("RESULT layer=keymgr alg=%s threads=%d ops=%ld errors=%ld secs=%.3f signs_per_s=%.1f "
                    "us_per_sign_thread=%.2f\n",
                    std::string(algorithm_name(alg)).c_str(), threads, ops.load(), errors.load(), el,
                    ops.load() / el, el * 1e6 * threads / static_cast<double>(ops.load()));
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
