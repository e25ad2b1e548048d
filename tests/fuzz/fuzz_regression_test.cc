// Replays every committed corpus file and every saved crash through the fuzz entry points, so the
// plain and ASan+UBSan CI passes check what the fuzzers found (no clang or libFuzzer needed).
//   tests/fuzz/corpus/<target>/*       seed corpus (also the fuzzers' starting point)
//   tests/fuzz/regressions/<target>/*  inputs that once crashed or broke a property (fixed)
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/fuzz/fuzz_entries.h"

namespace keymgr::fuzz {
namespace {
namespace fs = std::filesystem;

// $KEYMGR_SOURCE_DIR/tests/fuzz if set, else this directory as CMake saw it.
fs::path fuzz_dir() {
  const char* s = std::getenv("KEYMGR_SOURCE_DIR");
  if (s != nullptr && *s != '\0') return fs::path(s) / "tests" / "fuzz";
  return fs::path(KM_FUZZ_DIR);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs every file under <sub>/<target>/ through the entry; returns how many ran.
size_t replay(const Target& t, const char* sub) {
  const fs::path dir = fuzz_dir() / sub / t.name;
  if (!fs::is_directory(dir)) return 0;
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string data = read_file(e.path());
    SCOPED_TRACE(e.path().string());
    EXPECT_EQ(t.entry(reinterpret_cast<const uint8_t*>(data.data()), data.size()), 0);
    ++n;
  }
  return n;
}

}  // namespace

void PrintTo(const Target& t, std::ostream* os) { *os << t.name; }

namespace {

class FuzzRegression : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzRegression, CorpusAndRegressionsReplayCleanly) {
  const size_t seeds = replay(GetParam(), "corpus");
  const size_t fixed = replay(GetParam(), "regressions");
  // Every target has a committed seed corpus.
  EXPECT_GT(seeds, 0u) << "no corpus for " << GetParam().name << " under " << fuzz_dir();
  std::printf("[ replayed ] %s: %zu corpus + %zu regression inputs\n", GetParam().name, seeds, fixed);
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzRegression, ::testing::ValuesIn(targets()),
                         [](const ::testing::TestParamInfo<Target>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace keymgr::fuzz
