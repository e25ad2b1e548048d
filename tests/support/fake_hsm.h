// In-memory Hsm for fast unit tests of domain logic (test-only; never linked into the product).
//
// Keys are OpenSSL keys held in this process. Signature formats, KeyInfo contents, sort order
// and error codes/reasons match the PKCS#11 implementation (hsm/pkcs11_hsm.h):
//   kUnavailable/"hsm_unavailable" (set_unavailable, injected failures),
//   kNotFound/"key_not_found", kAlreadyExists/"key_exists", kInvalidArgument/"invalid_key_id",
//   kInvalidArgument/"algorithm_unsupported", kInvalidArgument/"algorithm_mismatch".
// RSA key generation is real (RSA-3072 takes ~0.2-1 s): prefer EC keys where the algorithm
// does not matter.
//
// Thread-safety: every method, including the fault switches, is thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "hsm/hsm.h"

namespace keymgr::testing {

class FakeHsm : public hsm::Hsm {
 public:
  FakeHsm();  // every Algorithm supported
  ~FakeHsm() override;

  // --- fault switches -------------------------------------------------------------------------
  // While true, every call (but supported_algorithms) fails with kUnavailable/"hsm_unavailable".
  void set_unavailable(bool unavailable);
  // The next n generate_key / sign calls fail with `status` (default: hsm_unavailable).
  void fail_next_generate(int n, Status status = Unavailable("C_GenerateKeyPair: CKR_DEVICE_ERROR (injected)",
                                                             "hsm_unavailable"));
  void fail_next_sign(int n, Status status = Unavailable("C_Sign: CKR_DEVICE_REMOVED (injected)",
                                                         "hsm_unavailable"));
  // Restrict what the "module" offers (like p11-kit remoting without EdDSA).
  void set_supported_algorithms(std::vector<Algorithm> algs);
  // A lagging object index (SoftHSM2 across processes): while stale, list_keys() leaves out the
  // keys hidden here; sign() and destroy_key() refresh first, as the PKCS#11 Hsm does, and so
  // does refresh_view() (which counts its calls).
  void hide_until_refresh(std::string_view id_hex);
  // The next n refresh_view() calls fail with hsm_unavailable (the view stays stale).
  void fail_next_refresh(int n);
  uint64_t refresh_calls() const { return refresh_calls_.load(); }

  // --- introspection --------------------------------------------------------------------------
  uint64_t sign_calls() const { return sign_calls_.load(); }          // every sign() call
  uint64_t successful_signs() const { return successful_signs_.load(); }
  uint64_t generate_calls() const { return generate_calls_.load(); }  // every generate_key() call
  size_t key_count() const;

  // --- hsm::Hsm -------------------------------------------------------------------------------
  std::vector<Algorithm> supported_algorithms() const override;
  Result<hsm::KeyInfo> generate_key(Algorithm alg, std::string_view id_hex, std::string_view label) override;
  Result<std::vector<hsm::KeyInfo>> list_keys(std::string_view label_prefix) override;
  Result<Bytes> sign(std::string_view id_hex, Algorithm alg, std::string_view signing_input) override;
  Status destroy_key(std::string_view id_hex) override;
  Status health() override;
  Status refresh_view() override;

 private:
  struct Key;
  Status unavailable_status() const;

  mutable std::mutex mu_;
  bool unavailable_ = false;                    // guarded by mu_
  int fail_generate_ = 0;                       // guarded by mu_
  Status fail_generate_status_;                 // guarded by mu_
  int fail_sign_ = 0;                           // guarded by mu_
  Status fail_sign_status_;                     // guarded by mu_
  std::vector<Algorithm> supported_;            // guarded by mu_
  std::map<std::string, std::shared_ptr<Key>> keys_;  // by normalized hex id; guarded by mu_
  int fail_refresh_ = 0;                        // guarded by mu_
  std::set<std::string> hidden_;                // stale view: ids list_keys leaves out; guarded by mu_
  std::atomic<uint64_t> sign_calls_{0}, successful_signs_{0}, generate_calls_{0}, refresh_calls_{0};
};

}  // namespace keymgr::testing
