#include "keymgr/policy.h"

#include <gtest/gtest.h>

namespace keymgr {
namespace {
using namespace std::chrono;

TEST(Policy, DefaultsAreValid) { EXPECT_TRUE(validate_policy(Policy{}).ok()); }

TEST(Policy, GraceShorterThanTtlPlusCachePlusSkewIsRefusedWithTheNumbers) {
  Policy p;
  p.verify_grace = hours(12);  // < 1h + 12h + 5m
  Status st = validate_policy(p);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.reason(), "bad_policy");
  EXPECT_NE(st.message().find("verify_grace 12h"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("max_token_ttl 1h"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("JWKS cache lifetime 12h"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("clock_skew 5m"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("= 785m"), std::string::npos) << st.message();
}

TEST(Policy, PrepublishShorterThanCacheIsRefused) {
  Policy p;
  p.prepublish = hours(1);
  Status st = validate_policy(p);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("prepublish 1h"), std::string::npos) << st.message();
}

TEST(Policy, TtlLongerThanSignPeriodAndTinyPeriodsRefused) {
  Policy p;
  p.max_token_ttl = p.sign_period + seconds(1);
  p.verify_grace = hours(24 * 60);
  EXPECT_FALSE(validate_policy(p).ok());
  Policy q;
  q.sign_period = seconds(60);
  q.max_token_ttl = seconds(30);
  EXPECT_FALSE(validate_policy(q).ok());
}

TEST(Policy, JsonRoundTripAndPartialUpdate) {
  Policy p;
  auto back = policy_from_json(policy_to_json(p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, p);
  auto upd = policy_from_json(nlohmann::json{{"sign_period", "7d"}, {"max_token_ttl", 600}}, p);
  ASSERT_TRUE(upd.ok()) << upd.status().to_string();
  EXPECT_EQ(upd->sign_period, hours(24 * 7));
  EXPECT_EQ(upd->max_token_ttl, seconds(600));
  EXPECT_EQ(upd->prepublish, p.prepublish);
}

TEST(Policy, BadJsonRefused) {
  EXPECT_FALSE(policy_from_json(nlohmann::json{{"sign_perod", 10}}).ok());
  EXPECT_FALSE(policy_from_json(nlohmann::json{{"sign_period", -1}}).ok());
  EXPECT_FALSE(policy_from_json(nlohmann::json{{"sign_period", "10x"}}).ok());
  EXPECT_FALSE(policy_from_json(nlohmann::json{{"sign_period", 1.5}}).ok());
  EXPECT_FALSE(policy_from_json(nlohmann::json::array()).ok());
  EXPECT_FALSE(policy_from_json(nlohmann::json{{"sign_period", "99999999999d"}}).ok());
}

TEST(Duration, ParseAndFormat) {
  EXPECT_EQ(*parse_duration("30d"), hours(720));
  EXPECT_EQ(*parse_duration("90m"), minutes(90));
  EXPECT_EQ(*parse_duration("45s"), seconds(45));
  EXPECT_EQ(*parse_duration("3600"), seconds(3600));
  EXPECT_FALSE(parse_duration("").ok());
  EXPECT_FALSE(parse_duration("d").ok());
  EXPECT_FALSE(parse_duration("-5m").ok());
  EXPECT_EQ(format_duration(hours(48)), "2d");
  EXPECT_EQ(format_duration(seconds(61)), "61s");
}

}  // namespace
}  // namespace keymgr
