#include "cli/cli_support.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <httplib.h>

#include "cli/app.h"
#include "cli/unreachable.h"
#include "common/logging.h"
#include "common/secret.h"

namespace keymgr::cli {
using nlohmann::json;

int fail(const Status& st) {
  std::cerr << "keymgr: " << st.to_string() << "\n";
  switch (st.code()) {
    case ErrorCode::kInvalidArgument: return kExitBadRequest;
    case ErrorCode::kUnavailable: return kExitUnavailable;
    case ErrorCode::kDataLoss: return kExitDataLoss;
    default: return kExitError;
  }
}

void add_remote_options(CLI::App* c, Remote& r) {
  c->add_option("--url", r.url, "keymgr server URL (default $KEYMGR_URL or http://127.0.0.1:8080)");
  c->add_option("--token-file", r.token_file, "file holding the API token (default: $KEYMGR_API_TOKEN)");
  c->add_flag("--table", r.table, "print a table instead of JSON");
}

Result<std::string> api_token(const Remote& r) {
  auto s = load_secret(r.token_file, "KEYMGR_API_TOKEN", "API token");
  if (!s.ok()) return s.status();
  return s->reveal();
}

int http(const Remote& r, const std::string& method, const std::string& path, const std::string* json_body,
         bool with_token, std::string* out) {
  httplib::Headers h;
  if (with_token) {
    auto tok = api_token(r);
    if (!tok.ok()) return fail(tok.status());
    h.emplace("Authorization", "Bearer " + *tok);
  }
  httplib::Client c(r.url);
  c.set_connection_timeout(5);
  c.set_read_timeout(60);
  const std::string b = json_body ? *json_body : "";
  httplib::Result res = method == "GET"     ? c.Get(path, h)
                        : method == "POST"  ? c.Post(path, h, b, "application/json")
                        : method == "PATCH" ? c.Patch(path, h, b, "application/json")
                                            : c.Delete(path, h);
  if (!res) {
    std::cerr << "keymgr: " << unreachable_message(r.url, res.error()) << "\n";
    return kExitUnavailable;
  }
  if (res->status >= 400) {
    json j = json::parse(res->body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) {
      std::cerr << "keymgr: " << res->status << " " << j["error"].get<std::string>() << ": "
                << (j.contains("message") && j["message"].is_string() ? j["message"].get<std::string>() : "") << "\n";
    } else {
      std::cerr << "keymgr: HTTP " << res->status << "\n";
    }
    return res->status == 503 ? kExitUnavailable : (res->status < 500 ? kExitBadRequest : kExitError);
  }
  if (out != nullptr) *out = std::move(res->body);
  return 0;
}

int call(const Remote& r, const std::string& method, const std::string& path, const json* body, json* out) {
  const std::string b = body ? body->dump() : "";
  std::string text;
  if (int rc = http(r, method, path, body ? &b : nullptr, true, &text); rc != 0) return rc;
  json j = json::parse(text, nullptr, false);
  if (out != nullptr) {
    *out = j;
  } else {
    std::cout << (j.is_discarded() ? text : j.dump(2)) << "\n";
  }
  return 0;
}

std::string url_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      out += b;
    }
  }
  return out;
}

Result<Local> open_local(const std::string& config_path) {
  Local l;
  ASSIGN_OR_RETURN(l.cfg, load_config(config_path));
  LogOptions lo;
  lo.level = "warn";
  (void)init_logging(lo);
  ASSIGN_OR_RETURN(l.store, open_configured_store(l.cfg));
  return l;
}

Result<std::string> read_input(const std::string& path, size_t max) {
  const int fd = path == "-" ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return InvalidArgument("cannot read " + path + ": " + std::strerror(errno), "cannot_read");
  std::string out;
  char buf[16384];
  Status st = Status::Ok();
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = InvalidArgument("cannot read " + path + ": " + std::strerror(errno), "cannot_read");
      break;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max) {
      st = InvalidArgument(path + " is larger than " + std::to_string(max) + " bytes", "input_too_large");
      break;
    }
  }
  if (fd != STDIN_FILENO) ::close(fd);
  if (!st.ok()) return st;
  return out;
}

Status write_file_atomic(const std::string& path, std::string_view data) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());  // mode 0600
  if (fd < 0) return Unavailable("cannot create a file in " + dir.string() + ": " + std::strerror(errno), "cannot_write");
  auto failed = [&](const char* what) {
    const int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Unavailable(std::string("cannot ") + what + " " + path + ": " + std::strerror(e), "cannot_write");
  };
  for (size_t off = 0; off < data.size();) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failed("write");
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return failed("fsync");
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return Unavailable("cannot write " + path + ": " + std::strerror(e), "cannot_write");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return Unavailable("cannot replace " + path + ": " + std::strerror(e), "cannot_write");
  }
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace keymgr::cli
