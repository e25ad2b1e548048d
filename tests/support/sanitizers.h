// What the current build is instrumented with, for tests that must adapt.
#pragma once

namespace keymgr::testing {

// SoftHSM2 2.6.1 leaks 37 bytes of OpenSSL objects inside C_Sign for Ed25519. LeakSanitizer's fast
// unwinder cannot walk through libsofthsm2 (no frame pointers), so the leak cannot be suppressed
// by module name there; tests that only need *some* algorithm use another one for SoftHSM under
// ASan. Ed25519 on SoftHSM2 stays covered by tests/hsm/pkcs11_algorithms_test.cc (slow unwinder)
// and by every plain-build test.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAsan = true;
#else
inline constexpr bool kAsan = false;
#endif

}  // namespace keymgr::testing
