// The rules every new keyset must satisfy (keymgr/keyset_rules.h), with expectations written out
// here rather than derived from the rules' own tables.
#include "keymgr/keyset_rules.h"

#include <gtest/gtest.h>

namespace keymgr {
namespace {

TEST(KeysetRules, NamesAreOneToSixtyFourOfLowercaseDigitsDashUnderscore) {
  for (const char* ok : {"a", "web", "tenant-a_2", "0"}) EXPECT_TRUE(check_keyset_name(ok).ok()) << ok;
  EXPECT_TRUE(check_keyset_name(std::string(64, 'x')).ok());
  for (const std::string& bad : {std::string(), std::string(65, 'x'), std::string("Web"), std::string("a b"),
                                std::string("a/b"), std::string("a.b"), std::string("é")}) {
    Status st = check_keyset_name(bad);
    EXPECT_EQ(st.reason(), "bad_keyset_name") << bad;
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(KeysetRules, IssuerMustBeAnHttpUrlWithoutQueryFragmentOrSpaces) {
  for (const char* ok : {"https://id.example", "https://id.example/", "http://127.0.0.1:8080/web",
                         "https://id.example/tenants/a"}) {
    EXPECT_TRUE(check_issuer(ok).ok()) << ok;
  }
  for (const std::string& bad : {std::string("ftp://id.example"), std::string("id.example/web"),
                                std::string("https://id.example/a?b=1"), std::string("https://id.example/#x"),
                                std::string("https://id.example/a b"), "https://id.example/" + std::string(500, 'a')}) {
    EXPECT_EQ(check_issuer(bad).reason(), "bad_issuer") << bad;
  }
}

TEST(KeysetRules, IssuerPathsOfKeymgrsOwnRoutesAreRefused) {
  for (const char* bad : {"http://127.0.0.1:8080/v1", "https://id.example/v1/", "https://id.example/v1/keysets/a",
                          "https://id.example/v1beta", "https://id.example/healthz", "https://id.example/readyz/",
                          "https://id.example/metrics", "https://id.example/ui", "https://id.example/ui/keysets"}) {
    Status st = check_issuer(bad);
    EXPECT_EQ(st.reason(), "bad_issuer") << bad;
    EXPECT_NE(st.message().find("collides with keymgr's own routes"), std::string::npos) << st.message();
  }
  // Neighbours of the reserved paths are fine.
  for (const char* ok : {"https://id.example/v2", "https://id.example/healthz2", "https://id.example/uix",
                         "https://id.example/tenants/v1", "https://id.example/metrics/a"}) {
    EXPECT_TRUE(check_issuer(ok).ok()) << ok;
  }
}

TEST(KeysetRules, NewKeysetChecksNameThenIssuer) {
  EXPECT_TRUE(check_new_keyset("web", "https://id.example/web").ok());
  EXPECT_EQ(check_new_keyset("Bad", "https://id.example/v1").reason(), "bad_keyset_name");
  EXPECT_EQ(check_new_keyset("web", "https://id.example/v1").reason(), "bad_issuer");
}

TEST(KeysetRules, DefaultAlgorithmIsEs256) { EXPECT_EQ(algorithm_name(kDefaultAlgorithm), "ES256"); }

}  // namespace
}  // namespace keymgr
