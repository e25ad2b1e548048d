// The PKCS#11 implementation of the Hsm seam (SoftHSM2 in tests; any PKCS#11 v2.40 module).
//
// The library is dlopen()ed at run time; no PKCS#11 type appears here. Keys are generated inside
// the token as token objects: private halves CKA_PRIVATE, CKA_SENSITIVE, non-extractable and
// sign-only (CKA_ALLOWED_MECHANISMS pins each key to its algorithm, which is also how an RSA
// key's RS256/PS256 flavour is recognised again later). Both halves carry CKA_ID = id and the
// caller's CKA_LABEL.
//
// Errors (in addition to hsm.h):
//   open_pkcs11_hsm: kInvalidArgument/"hsm_config" when the module cannot be loaded, no or more
//   than one token matches, or the PIN is rejected ("C_Login: CKR_PIN_INCORRECT");
//   kUnavailable/"hsm_unavailable" when the library or token does not answer.
//   generate_key: kAlreadyExists/"key_exists", kInvalidArgument/"invalid_key_id".
//   sign: kInvalidArgument/"algorithm_mismatch" when `alg` is not the key's algorithm.
//
// Other processes' keys: a module may keep a per-process object index that lags behind another
// process's writes (SoftHSM2 2.6.1 does, directly and through p11-kit remoting, until C_Finalize).
// Before sign() or destroy_key() answers key_not_found it re-initialises the library once, to
// re-read the token (at most once per kNotFoundRefreshInterval, never behind a hung call), and
// looks again; refresh_view() does the same on request.
// Messages never contain the PIN.
//
// Thread-safety: everything is thread-safe; `pool_size` signatures can run at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/secret.h"
#include "common/status.h"
#include "hsm/hsm.h"

namespace keymgr::hsm {

struct Pkcs11Options {
  std::string module_path = "/usr/lib/softhsm/libsofthsm2.so";
  std::string token_label;   // select the token by label ...
  std::string token_serial;  // ... and/or serial; at least one is required
  Secret pin;                // user PIN
  int pool_size = 4;         // logged-in sessions kept open (1..64)
  std::chrono::milliseconds acquire_timeout{2000};  // wait for a free session, then hsm_unavailable

  // Test seam (fault injection): receives the library's CK_FUNCTION_LIST* and returns the table to
  // call through instead. The returned table must outlive the Hsm. Unset in production.
  std::function<void*(void*)> function_list_hook;
};

struct PoolStats {
  int size = 0;                  // configured pool_size
  int open = 0;                  // sessions currently open (idle + lent)
  int idle = 0;                  // open and not lent
  int leased = 0;                // lent to callers right now
  uint64_t replaced = 0;         // sessions discarded (lost) since start
  uint64_t reinitializations = 0;  // C_Finalize + C_Initialize of the library (process-wide)
  uint64_t view_refreshes = 0;     // of them, to re-read the token's objects (key_not_found, refresh_view)
  uint64_t drain_timeouts = 0;     // re-initialisations given up: a call in progress did not finish
};

// The concrete type behind open_pkcs11_hsm(), for introspection (dynamic_cast to it).
class Pkcs11Hsm : public Hsm {
 public:
  virtual PoolStats pool_stats() const = 0;
};

// Loads the module, finds the token, opens and logs in the session pool.
Result<std::unique_ptr<Hsm>> open_pkcs11_hsm(Pkcs11Options options);

}  // namespace keymgr::hsm
