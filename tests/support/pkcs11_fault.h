// Fault injection for the PKCS#11 layer (test-only). Wraps the library's CK_FUNCTION_LIST so that
// chosen calls return a chosen CK_RV, through Pkcs11Options::function_list_hook.
//
// Usage:
//   Pkcs11FaultInjector faults;
//   auto opts = token.options();
//   opts.function_list_hook = faults.hook();
//   faults.fail_next(P11Call::kSign, CKR_DEVICE_REMOVED);
//
// At most one injector may exist per process at a time (the C trampolines find it through a
// global). It must outlive every Hsm opened with its hook. Arming and counting are thread-safe.
#pragma once

#include <p11-kit/pkcs11.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>

namespace keymgr::testing {

enum class P11Call {
  kGetSlotList,
  kOpenSession,
  kLogin,
  kGenerateKeyPair,
  kGetAttributeValue,
  kFindObjectsInit,
  kSignInit,
  kSign,
  kDestroyObject,
  kCount_,
};

// Armed on kGetSlotList: the call succeeds with no slot at all (a p11-kit client initialised while
// its server was away).
inline constexpr CK_RV kNoSlots = CKR_VENDOR_DEFINED | 0x51075;

class Pkcs11FaultInjector {
 public:
  Pkcs11FaultInjector();
  Pkcs11FaultInjector(const Pkcs11FaultInjector&) = delete;
  Pkcs11FaultInjector& operator=(const Pkcs11FaultInjector&) = delete;
  ~Pkcs11FaultInjector();

  // For Pkcs11Options::function_list_hook.
  std::function<void*(void*)> hook();

  // The next `times` calls of `call` return `rv` without reaching the library.
  void fail_next(P11Call call, CK_RV rv, int times = 1);
  // Same, but armed only once `after` has succeeded (e.g. attribute reads after key generation).
  void fail_after(P11Call after, P11Call call, CK_RV rv, int times = 1);
  // Calls of `call` seen (failed or not) since construction.
  int calls(P11Call call) const;

  // Every call of `call` from now on blocks (a hung module) until release_hangs(); then it
  // proceeds to the library as usual.
  void hang(P11Call call);
  // Unblocks every hung call and disarms all hangs.
  void release_hangs();
  // Calls blocked in a hang right now.
  int hung() const;
  // Runs `fn` once, just before the next call of `call` reaches the library (e.g. another process
  // writing to the token between a lookup and a write).
  void run_before(P11Call call, std::function<void()> fn);

  // The library's own table (null until hook() ran).
  CK_FUNCTION_LIST* real() const { return real_; }

  // Used by the trampolines.
  static Pkcs11FaultInjector* active();
  CK_RV before(P11Call call);
  void after(P11Call call, CK_RV rv);

 private:
  struct Arm {
    CK_RV rv = CKR_OK;
    int times = 0;
    std::optional<P11Call> after;  // armed when this call succeeds
  };
  static constexpr size_t kN = static_cast<size_t>(P11Call::kCount_);
  mutable std::mutex mu_;
  std::array<Arm, kN> arms_{};   // guarded by mu_
  std::array<int, kN> calls_{};  // guarded by mu_
  std::array<bool, kN> hang_{};  // guarded by mu_
  std::array<std::function<void()>, kN> run_before_{};  // guarded by mu_
  int hung_ = 0;                 // guarded by mu_
  std::condition_variable released_;
  CK_FUNCTION_LIST* real_ = nullptr;
  CK_FUNCTION_LIST wrapped_{};
};

}  // namespace keymgr::testing
