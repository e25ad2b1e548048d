// TLS and client-certificate authentication, configured as an operator would (PEM files), with
// certificates made by the openssl command line.
#include <gtest/gtest.h>
#include <httplib.h>

#include "tests/api/app_env.h"

namespace keymgr::testing {
namespace {

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(token_.ok()) << token_.error();
    dir_ = make_temp_dir("km-tls");
    auto sh = [&](const std::string& cmd) {
      std::string out;
      int rc = run_process({"/bin/sh", "-c", "cd " + dir_ + " && " + cmd}, &out);
      ASSERT_EQ(rc, 0) << cmd << "\n" << out;
    };
    // A CA, a server certificate for 127.0.0.1, and a client certificate, all signed by the CA.
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt "
       "-days 2 -subj /CN=test-ca");
    sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1");
    sh("printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key "
       "-CAcreateserial -out srv.crt -days 2 -extfile san.ext");
    sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cli.key -out cli.csr -subj /CN=ops-client");
    sh("openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out cli.crt -days 2");
  }
  void TearDown() override {
    app_.reset();
    remove_tree(dir_);
  }
  void start(bool mtls) {
    cli::Config cfg = test_config(dir_);
    cfg.server.tls_cert = dir_ + "/srv.crt";
    cfg.server.tls_key = dir_ + "/srv.key";
    if (mtls) cfg.server.client_ca = dir_ + "/ca.crt";
    ASSERT_NO_FATAL_FAILURE(start_test_app(token_, cfg, app_));
  }
  SoftHsmToken token_;
  std::string dir_;
  std::unique_ptr<cli::App> app_;
};

TEST_F(TlsTest, ServesHttpsWithAVerifiableCertificate) {
  start(false);
  httplib::SSLClient c("127.0.0.1", app_->port());
  c.set_ca_cert_path((dir_ + "/ca.crt").c_str());
  c.enable_server_certificate_verification(true);
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  // Plain HTTP on the TLS port gets nothing useful.
  httplib::Client plain("127.0.0.1", app_->port());
  plain.set_read_timeout(2);
  auto p = plain.Get("/healthz");
  EXPECT_TRUE(!p || p->status != 200);
}

TEST_F(TlsTest, ClientCertificateIsRequiredWhenAClientCaIsConfigured) {
  start(true);
  httplib::SSLClient without("127.0.0.1", app_->port());
  without.set_ca_cert_path((dir_ + "/ca.crt").c_str());
  without.enable_server_certificate_verification(true);
  auto r = without.Get("/healthz");
  EXPECT_FALSE(r && r->status == 200) << "a client without a certificate must be refused";
  httplib::SSLClient with("127.0.0.1", app_->port(), dir_ + "/cli.crt", dir_ + "/cli.key");
  with.set_ca_cert_path((dir_ + "/ca.crt").c_str());
  with.enable_server_certificate_verification(true);
  auto ok = with.Get("/healthz");
  ASSERT_TRUE(ok) << httplib::to_string(ok.error());
  EXPECT_EQ(ok->status, 200);
}

TEST_F(TlsTest, MissingCertificateFilesAreAClearStartupError) {
  cli::Config cfg = test_config(dir_);
  cfg.server.tls_cert = dir_ + "/nope.crt";
  cfg.server.tls_key = dir_ + "/nope.key";
  auto app = open_test_app(token_, cfg);
  ASSERT_TRUE(app.ok()) << app.status().to_string();
  Status st = (*app)->start();
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.reason(), "bad_config") << st.to_string();
}

}  // namespace
}  // namespace keymgr::testing
