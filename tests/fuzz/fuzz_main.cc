// libFuzzer driver: KM_FUZZ_ENTRY names one function of fuzz_entries.h (set per target by CMake).
#include "tests/fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return keymgr::fuzz::KM_FUZZ_ENTRY(data, size);
}
