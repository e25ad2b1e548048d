#include "tests/support/softhsm_token.h"

#include <stdlib.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

// LeakSanitizer: SoftHSM 2.6.1 leaks small OpenSSL objects inside C_Sign/C_GenerateKeyPair (e.g.
// Ed25519 key parameters after objects are reloaded from disk). Not ours to fix; suppressed for
// every test that uses a SoftHSM token. Same list as tests/support/lsan.supp (for LSAN_OPTIONS).
// The leaking frames are only seen with the slow unwinder (libcrypto has no frame pointers): test
// binaries that sign with Ed25519 set fast_unwind_on_malloc=0 (see pkcs11_algorithms_test.cc).
extern "C" const char* __lsan_default_suppressions() { return "leak:libsofthsm2.so\n"; }

namespace keymgr::testing {

std::string make_temp_dir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + ".XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return "";
  return std::string(buf.data());
}

void remove_tree(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

int run_process(const std::vector<std::string>& argv, std::string* output) {
  if (argv.empty()) return -1;
  // posix_spawnp, not fork + exec: a forked child of a multithreaded test that allocates before
  // exec (building argv) can deadlock on an allocator lock another thread held at fork time (seen
  // under ASan: the child never reached exec and the test hung on the pipe until its timeout).
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);  // dup2 clears FD_CLOEXEC on the copies
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return -1;
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (output) *output = std::move(out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

SoftHsmToken::SoftHsmToken(std::string label, std::string pin, std::string so_pin)
    : label_(std::move(label)), pin_(std::move(pin)), so_pin_(std::move(so_pin)) {
  dir_ = make_temp_dir("keymgr-softhsm");
  if (dir_.empty()) {
    error_ = std::string("mkdtemp: ") + std::strerror(errno);
    return;
  }
  // Owner only, as scripts/init-softhsm.sh makes it (create_directory would apply the umask).
  std::error_code ec;
  std::filesystem::create_directory(dir_ + "/tokens", ec);
  std::filesystem::permissions(dir_ + "/tokens", std::filesystem::perms::owner_all, ec);
  conf_path_ = dir_ + "/softhsm2.conf";
  {
    std::ofstream conf(conf_path_);
    conf << "directories.tokendir = " << dir_ << "/tokens\n"
         << "objectstore.backend = file\n"
         << "log.level = ERROR\n"
         << "slots.removable = false\n";
    if (!conf) {
      error_ = "cannot write " + conf_path_;
      return;
    }
  }
  ::setenv("SOFTHSM2_CONF", conf_path_.c_str(), 1);
  Status st = add_token(label_);
  if (!st.ok()) error_ = st.to_string();
}

SoftHsmToken::~SoftHsmToken() { remove_tree(dir_); }

Status SoftHsmToken::add_token(const std::string& label) {
  std::string out;
  int rc = run_process({"softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin_, "--so-pin",
                        so_pin_},
                       &out);
  if (rc != 0) return Internal("softhsm2-util --init-token failed (" + std::to_string(rc) + "): " + out);
  return Status::Ok();
}

hsm::Pkcs11Options SoftHsmToken::options() const {
  hsm::Pkcs11Options o;
  o.module_path = module_path();
  o.token_label = label_;
  o.pin = Secret(pin_);
  return o;
}

}  // namespace keymgr::testing
