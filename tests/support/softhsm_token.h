// A fresh SoftHSM2 token in a private temp directory, for tests.
//
// The constructor creates DIR/softhsm2.conf (tokendir DIR/tokens, file backend, log level ERROR),
// points SOFTHSM2_CONF at it for the whole process and runs `softhsm2-util --init-token`.
// SoftHSM reads SOFTHSM2_CONF at C_Initialize, so create the token before the first Hsm is opened
// and keep at most one SoftHsmToken per process whose module is in use: while any Hsm holds the
// library, a newer SOFTHSM2_CONF is not seen. Further tokens in the same directory:
// add_token(). The destructor removes the directory.
//
// PINs travel on softhsm2-util's argv: acceptable in tests only.
// Not thread-safe (construct in a fixture, then share read-only).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "hsm/pkcs11_hsm.h"

namespace keymgr::testing {

class SoftHsmToken {
 public:
  explicit SoftHsmToken(std::string label = "keymgr-test", std::string pin = "123456",
                        std::string so_pin = "12345678");
  SoftHsmToken(const SoftHsmToken&) = delete;
  SoftHsmToken& operator=(const SoftHsmToken&) = delete;
  ~SoftHsmToken();

  // Construction failed (no softhsm2-util, disk full...): ok() false, error() says why.
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  static constexpr const char* kModulePath = "/usr/lib/softhsm/libsofthsm2.so";
  std::string module_path() const { return kModulePath; }
  const std::string& label() const { return label_; }
  const std::string& pin() const { return pin_; }
  const std::string& dir() const { return dir_; }
  const std::string& conf_path() const { return conf_path_; }

  // Options for open_pkcs11_hsm on this token (pool of 4, 2 s acquire timeout).
  hsm::Pkcs11Options options() const;

  // Initializes another token (same PINs) in the same token directory.
  Status add_token(const std::string& label);

 private:
  std::string label_, pin_, so_pin_, dir_, conf_path_, error_;
};

// Runs argv[0] (PATH lookup) with argv, waits; stdout+stderr go to *output if given.
// Returns the exit status, or -1 if it could not run / was killed by a signal.
int run_process(const std::vector<std::string>& argv, std::string* output = nullptr);

// A fresh empty directory under $TMPDIR (or /tmp); "" on failure.
std::string make_temp_dir(const std::string& prefix);
void remove_tree(const std::string& dir);

}  // namespace keymgr::testing
