// Building and running the Go programs under tests/interop/ that serve as independent checkers
// (golang.org/x/mod from Debian's golang-golang-x-mod-dev, GOPATH mode, offline). Test-only,
// header-only. A missing Go toolchain is a test failure, not a skip: the checkers are the point.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace keymgr::testing {

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// Runs `cmd` with /bin/sh, appends its stdout to *output; returns pclose's status (0 = success).
inline int run_command(const std::string& cmd, std::string* output) {
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return -1;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) output->append(buf, got);
  return pclose(f);
}

// Empty if `go` and golang.org/x/mod/<package> are there, else what to install.
inline std::string go_missing(const std::string& package) {
  std::string unused;
  if (run_command("command -v go 2>&1", &unused) != 0 ||
      !std::filesystem::exists("/usr/share/gocode/src/golang.org/x/mod/" + package)) {
    return "the Go reference checker needs `go` and golang.org/x/mod/" + package +
           " (Debian golang-go, golang-golang-x-mod-dev): run scripts/install-deps.sh";
  }
  return "";
}

// Builds tests/interop/<name>.go into <binary dir>/interop/<name>. source_dir/binary_dir are the
// fallbacks for $KEYMGR_SOURCE_DIR / $KEYMGR_BINARY_DIR (set by ctest). On failure returns false
// and the build log in *log.
inline bool build_go_checker(const std::string& name, const std::string& source_dir, const std::string& binary_dir,
                             std::string* tool, std::string* log) {
  namespace fs = std::filesystem;
  const std::string src = env_or("KEYMGR_SOURCE_DIR", source_dir);
  const fs::path dir = fs::path(env_or("KEYMGR_BINARY_DIR", binary_dir)) / "interop";
  fs::create_directories(dir);
  *tool = (dir / name).string();
  return run_command("cd '" + dir.string() + "' && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE='" +
                         (dir / "go-cache").string() + "' go build -o '" + *tool + "' '" + src + "/tests/interop/" +
                         name + ".go' 2>&1",
                     log) == 0;
}

// Feeds `requests` (one per line) to the checker and returns its answer lines.
inline std::vector<std::string> ask_go_checker(const std::string& tool, const std::vector<std::string>& requests,
                                               int* rc) {
  namespace fs = std::filesystem;
  const fs::path input = fs::path(tool).parent_path() / (fs::path(tool).filename().string() + ".in");
  {
    std::ofstream f(input);
    for (const std::string& r : requests) f << r << "\n";
  }
  std::string out;
  *rc = run_command("'" + tool + "' < '" + input.string() + "'", &out);
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace keymgr::testing
