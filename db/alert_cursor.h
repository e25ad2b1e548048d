// The paging cursor of Store::list_alerts (AlertQuery::before, AlertPage::next_cursor):
// "<ts_ms>:<id>" of the last alert of a page. It reaches keymgr from outside (a query parameter),
// so parse_alert_cursor() accepts only that shape: a decimal ts_ms without sign or leading zeros,
// ':', and an alert id of 1..128 characters from [0-9a-zA-Z_-].
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "db/records.h"

namespace keymgr::db {

std::string alert_cursor(const AlertRecord& a);
// kInvalidArgument "bad_cursor" for anything else.
Result<std::pair<int64_t, std::string>> parse_alert_cursor(std::string_view cursor);

}  // namespace keymgr::db
