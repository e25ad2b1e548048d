// Runs the auditor's Python snippet from docs/ledger.md against a real ledger, so the documented
// encoding cannot drift from db/ledger_hash.cc.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/db/sqlite_test_util.h"

namespace keymgr::db {
namespace {

using testing::open_or_die;
using testing::options_for;
using testing::RawDb;
using testing::sign_entry;
using testing::TempDir;

std::string doc_snippet() {
  const char* src = std::getenv("KEYMGR_SOURCE_DIR");
  if (src == nullptr) return "";
  std::ifstream in(std::string(src) + "/docs/ledger.md");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  auto start = doc.find("```python\n");
  if (start == std::string::npos) return "";
  start += 10;
  auto end = doc.find("```", start);
  return end == std::string::npos ? "" : doc.substr(start, end - start);
}

struct RunResult {
  int exit_code = -1;
  std::string out;
};

RunResult run_python(const std::string& script, const std::string& db) {
  std::string cmd = "/usr/bin/python3 '" + script + "' '" + db + "' 2>&1";
  RunResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr) r.out += buf;
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(LedgerDoc, PythonSnippetRecomputesTheChain) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  std::string snippet = doc_snippet();
  ASSERT_FALSE(snippet.empty()) << "KEYMGR_SOURCE_DIR unset or no ```python block in docs/ledger.md";
  TempDir dir;
  std::string script = dir.file("verify_ledger.py");
  std::ofstream(script) << snippet;
  std::string path = dir.file("km.db");

  LedgerEntry head;
  {
    auto s = open_or_die(options_for(path));
    ASSERT_TRUE(s);
    for (int i = 0; i < 25; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k1", "j" + std::to_string(i), i)).ok());
    auto odd = sign_entry("kïd-ü", "", -5, -1, "refused");  // non-ASCII, empty strings, negative ints
    odd.detail = R"({"note":"tab\there"})";
    ASSERT_TRUE(s->append_ledger(odd).ok());
    ChangeSet cs;
    cs.ledger = {testing::lifecycle_entry("key_activated", "k1", 99)};
    ASSERT_TRUE(s->apply(cs).ok());
    auto h = s->ledger_head();
    ASSERT_TRUE(h.ok());
    head = *h;
    // Also while the store is open (WAL file present).
    auto live = run_python(script, path);
    EXPECT_EQ(live.exit_code, 0) << live.out;
    EXPECT_EQ(live.out, "OK 27 " + hex_encode(head.hash) + "\n");
  }
  auto r = run_python(script, path);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "OK 27 " + hex_encode(head.hash) + "\n");

  { RawDb raw(path); raw.exec("UPDATE ledger SET aud = 'evil' WHERE seq = 13"); }
  r = run_python(script, path);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "BAD seq 13\n");
}

}  // namespace
}  // namespace keymgr::db
