// The web console's files (console/dist), built into the binary by console/embed.cmake at build
// time, so that keymgr serves its console with nothing installed beside it.
#pragma once

#include <span>
#include <string_view>

namespace keymgr::api {

struct UiAsset {
  std::string_view path;          // under /ui/: "index.html", "app.js", ...
  std::string_view content_type;  // with charset for text
  std::string_view etag;          // strong, quoted: "\"<first 128 bits of the SHA-256 in hex>\""
  std::string_view body;
};

// Every file of the console, sorted by path; static storage, thread-safe.
std::span<const UiAsset> ui_assets();

}  // namespace keymgr::api
