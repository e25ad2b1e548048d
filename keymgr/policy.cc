#include "keymgr/policy.h"

#include <charconv>
#include <utility>

namespace keymgr {
namespace {
using std::chrono::seconds;

struct Field {
  const char* name;
  seconds Policy::*member;
};
constexpr Field kFields[] = {
    {"prepublish", &Policy::prepublish},         {"sign_period", &Policy::sign_period},
    {"verify_grace", &Policy::verify_grace},     {"max_token_ttl", &Policy::max_token_ttl},
    {"destroy_after", &Policy::destroy_after},   {"verifier_cache", &Policy::verifier_cache},
    {"jwks_max_age", &Policy::jwks_max_age},     {"clock_skew", &Policy::clock_skew},
    {"rotation_lead", &Policy::rotation_lead},
};
struct CountField {
  const char* name;
  int64_t Policy::*member;
  int64_t max;
};
constexpr int64_t kMaxCount = 1'000'000;
constexpr int64_t kMaxSignatures = int64_t{1} << 53;  // exact in every JSON reader
constexpr CountField kCountFields[] = {{"sign_rate", &Policy::sign_rate, kMaxCount},
                                       {"sign_burst", &Policy::sign_burst, kMaxCount},
                                       {"max_signatures", &Policy::max_signatures, kMaxSignatures}};
constexpr int64_t kMaxSeconds = int64_t{100} * 365 * 24 * 3600;  // 100 years: no overflow anywhere
}  // namespace

std::string format_duration(seconds s) {
  int64_t v = s.count();
  if (v != 0 && v % 86400 == 0) return std::to_string(v / 86400) + "d";
  if (v != 0 && v % 3600 == 0) return std::to_string(v / 3600) + "h";
  if (v != 0 && v % 60 == 0) return std::to_string(v / 60) + "m";
  return std::to_string(v) + "s";
}

Result<seconds> parse_duration(const std::string& text) {
  if (text.empty()) return InvalidArgument("empty duration", "bad_policy");
  int64_t mult = 1;
  std::string_view digits = text;
  switch (text.back()) {
    case 'd': mult = 86400; digits.remove_suffix(1); break;
    case 'h': mult = 3600; digits.remove_suffix(1); break;
    case 'm': mult = 60; digits.remove_suffix(1); break;
    case 's': mult = 1; digits.remove_suffix(1); break;
    default: break;
  }
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || digits.empty() || v < 0 ||
      v > kMaxSeconds / mult) {
    return InvalidArgument("bad duration '" + text + "' (use e.g. 3600, 90m, 12h, 30d)", "bad_policy");
  }
  return seconds(v * mult);
}

Status validate_policy(const Policy& p) {
  for (const auto& f : kFields) {
    auto v = (p.*f.member).count();
    if (v < 0 || v > kMaxSeconds) {
      return InvalidArgument(std::string(f.name) + " out of range (0 .. 100 years)", "bad_policy");
    }
  }
  for (const auto& f : kCountFields) {
    if (p.*f.member < 0 || p.*f.member > f.max) {
      return InvalidArgument(std::string(f.name) + " out of range (0 .. " + std::to_string(f.max) + ")", "bad_policy");
    }
  }
  if (p.sign_burst > 0 && p.sign_rate == 0) {
    return InvalidArgument("sign_burst needs a sign_rate (0 = no limit)", "bad_policy");
  }
  if (p.sign_period < std::chrono::minutes(5)) {
    return InvalidArgument("sign_period " + format_duration(p.sign_period) +
                               " is below the 5m minimum (rotation would outrun the scheduler)",
                           "bad_policy");
  }
  if (p.rotation_lead < kMinRotationLead) {
    return InvalidArgument("rotation_lead " + format_duration(p.rotation_lead) + " is below the " +
                               format_duration(kMinRotationLead) +
                               " minimum: the successor must be generated with time to spare for a slow or "
                               "refusing HSM, or its pre-publication would be cut short",
                           "bad_policy");
  }
  if (p.prepublish + p.rotation_lead > p.sign_period) {
    return InvalidArgument("prepublish " + format_duration(p.prepublish) + " + rotation_lead " +
                               format_duration(p.rotation_lead) + " = " +
                               format_duration(p.prepublish + p.rotation_lead) + " exceeds sign_period " +
                               format_duration(p.sign_period) +
                               ": each successor is generated while its predecessor signs, so it could not be "
                               "published for prepublish before the predecessor's window ends",
                           "bad_policy");
  }
  if (p.max_token_ttl < seconds(1)) return InvalidArgument("max_token_ttl must be at least 1s", "bad_policy");
  if (p.max_token_ttl > p.sign_period) {
    return InvalidArgument("max_token_ttl " + format_duration(p.max_token_ttl) + " exceeds sign_period " +
                               format_duration(p.sign_period),
                           "bad_policy");
  }
  const seconds cache = std::max(p.verifier_cache, p.jwks_max_age);
  const seconds need_grace = p.max_token_ttl + cache + p.clock_skew;
  if (p.verify_grace < need_grace) {
    return InvalidArgument("verify_grace " + format_duration(p.verify_grace) +
                               " is shorter than max_token_ttl " + format_duration(p.max_token_ttl) +
                               " + JWKS cache lifetime " + format_duration(cache) + " + clock_skew " +
                               format_duration(p.clock_skew) + " = " + format_duration(need_grace) +
                               ": a token could outlive its key's publication",
                           "bad_policy");
  }
  const seconds need_prepublish = cache + p.clock_skew;
  if (p.prepublish < need_prepublish) {
    return InvalidArgument("prepublish " + format_duration(p.prepublish) + " is shorter than JWKS cache lifetime " +
                               format_duration(cache) + " + clock_skew " + format_duration(p.clock_skew) + " = " +
                               format_duration(need_prepublish) +
                               ": verifiers could see tokens from a key they have not fetched yet",
                           "bad_policy");
  }
  if (p.jwks_max_age > p.verifier_cache) {
    return InvalidArgument("jwks_max_age " + format_duration(p.jwks_max_age) + " exceeds verifier_cache " +
                               format_duration(p.verifier_cache),
                           "bad_policy");
  }
  return Status::Ok();
}

nlohmann::json policy_to_json(const Policy& p) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : kFields) j[f.name] = (p.*f.member).count();
  for (const auto& f : kCountFields) j[f.name] = p.*f.member;
  return j;
}

Result<Policy> policy_from_json(const nlohmann::json& j, const Policy& base) {
  if (!j.is_object()) return InvalidArgument("policy must be a JSON object", "bad_policy");
  Policy p = base;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const Field* field = nullptr;
    for (const auto& f : kFields) {
      if (it.key() == f.name) field = &f;
    }
    const CountField* count = nullptr;
    for (const auto& f : kCountFields) {
      if (it.key() == f.name) count = &f;
    }
    if (count != nullptr) {
      if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > count->max) {
        return InvalidArgument(std::string(count->name) + " must be an integer 0.." + std::to_string(count->max),
                               "bad_policy");
      }
      p.*(count->member) = it.value().get<int64_t>();
      continue;
    }
    if (field == nullptr) return InvalidArgument("unknown policy field '" + it.key() + "'", "bad_policy");
    const auto& v = it.value();
    if (v.is_number_integer()) {
      int64_t n = v.get<int64_t>();
      if (n < 0 || n > kMaxSeconds) {
        return InvalidArgument(std::string(field->name) + " out of range", "bad_policy");
      }
      p.*(field->member) = seconds(n);
    } else if (v.is_string()) {
      auto d = parse_duration(v.get<std::string>());
      if (!d.ok()) return d.status().with_context(field->name);
      p.*(field->member) = *d;
    } else {
      return InvalidArgument(std::string(field->name) + " must be seconds or a duration string", "bad_policy");
    }
  }
  return p;
}

}  // namespace keymgr
