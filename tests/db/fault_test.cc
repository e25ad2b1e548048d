// Disk failures under the ledger (via FaultVfs): appends and change sets fail closed with
// ledger_unavailable, nothing of the failed transaction survives (also across reopen), and the
// chain continues once the disk recovers.
#include "tests/db/fault_vfs.h"
#include "tests/db/sqlite_test_util.h"

namespace keymgr::db {
namespace {

using testing::FaultVfs;
using testing::open_or_die;
using testing::options_for;
using testing::sign_entry;
using testing::TempDir;

class DiskFaultTest : public ::testing::TestWithParam<std::pair<const char*, int>> {
 protected:
  void SetUp() override { FaultVfs::install(); }
  void TearDown() override { FaultVfs::disarm(); }
  void arm() {
    auto [what, rc] = GetParam();
    if (std::string(what) == "write") FaultVfs::write_error = rc;
    else FaultVfs::sync_error = rc;
  }
};

void expect_ledger_unavailable(const Status& st) {
  EXPECT_EQ(st.code(), ErrorCode::kUnavailable) << st.to_string();
  EXPECT_EQ(st.reason(), "ledger_unavailable") << st.to_string();
}

TEST_P(DiskFaultTest, FailsClosedAndRecovers) {
  TempDir dir;
  auto path = dir.file("km.db");
  {
    auto s = open_or_die(options_for(path));
    ASSERT_TRUE(s);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "ok" + std::to_string(i), i)).ok());

    arm();
    auto a = s->append_ledger(sign_entry("k", "lost-append", 10));
    expect_ledger_unavailable(a.status());
    ChangeSet cs;
    cs.ledger = {testing::lifecycle_entry("key_activated", "k", 11), testing::lifecycle_entry("key_retired", "k", 12)};
    expect_ledger_unavailable(s->apply(cs).status());
    FaultVfs::disarm();

    auto seq = s->append_ledger(sign_entry("k", "after", 20));
    ASSERT_TRUE(seq.ok()) << seq.status().to_string();
    EXPECT_EQ(*seq, 6);
    auto rep = s->verify_chain();
    ASSERT_TRUE(rep.ok());
    EXPECT_TRUE(rep->ok) << rep->problem;
    EXPECT_EQ(rep->entries, 6);
  }
  // After reopen (WAL recovery, checkpoint on close) the failed transactions are still absent.
  auto s = open_or_die(options_for(path));
  ASSERT_TRUE(s);
  auto rep = s->verify_chain();
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->ok) << rep->problem;
  EXPECT_EQ(rep->entries, 6);
  LedgerQuery q;
  q.jti = "lost-append";
  auto page = s->query_ledger(q);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->entries.empty());
}

INSTANTIATE_TEST_SUITE_P(Faults, DiskFaultTest,
                         ::testing::Values(std::make_pair("write", SQLITE_FULL), std::make_pair("write", SQLITE_IOERR_WRITE),
                                           std::make_pair("sync", SQLITE_IOERR_FSYNC)),
                         [](const auto& info) {
                           return std::string(info.param.first) + "_" + std::to_string(info.param.second);
                         });

}  // namespace
}  // namespace keymgr::db
