#include "db/alert_cursor.h"

#include <charconv>

namespace keymgr::db {

std::string alert_cursor(const AlertRecord& a) { return std::to_string(a.ts_ms) + ":" + a.id; }

Result<std::pair<int64_t, std::string>> parse_alert_cursor(std::string_view cursor) {
  const auto bad = [] { return InvalidArgument("cursor must be a next_cursor value from a page of alerts", "bad_cursor"); };
  const size_t colon = cursor.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 19) return bad();
  const std::string_view ts = cursor.substr(0, colon);
  const std::string_view id = cursor.substr(colon + 1);
  if (ts[0] < '0' || ts[0] > '9') return bad();  // from_chars takes "-0" as 0
  if (ts.size() > 1 && ts[0] == '0') return bad();
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), v);
  if (ec != std::errc() || end != ts.data() + ts.size() || v < 0) return bad();
  if (id.empty() || id.size() > 128) return bad();
  for (char c : id) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
    if (!ok) return bad();
  }
  return std::make_pair(v, std::string(id));
}

}  // namespace keymgr::db
