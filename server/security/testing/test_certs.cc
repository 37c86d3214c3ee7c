#include "server/security/testing/test_certs.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace blockstore {
namespace {

constexpr char kOpenssl[] = "/usr/bin/openssl";

// Runs one openssl command line (its output into dir/openssl.log, shown on failure).
absl::Status Run(absl::string_view dir, const std::string& args) {
  const std::string log = absl::StrCat(dir, "/openssl.log");
  const std::string command = absl::StrCat(kOpenssl, " ", args, " >>", log, " 2>&1");
  if (std::system(command.c_str()) != 0) {
    absl::StatusOr<std::string> output = ReadTestFile(log);
    return absl::InternalError(
        absl::StrCat("`", command, "` failed: ", output.ok() ? *output : std::string("(no log)")));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadTestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<TestCertificate> MakeTestCa(absl::string_view dir, absl::string_view name) {
  TestCertificate ca{absl::StrCat(dir, "/", name, ".pem"), absl::StrCat(dir, "/", name, ".key")};
  absl::Status status =
      Run(dir, absl::StrCat("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes",
                            " -subj /CN=", name, " -days 2 -keyout ", ca.key_file, " -out ",
                            ca.cert_file, " -addext basicConstraints=critical,CA:TRUE",
                            " -addext keyUsage=critical,keyCertSign,cRLSign"));
  if (!status.ok()) return status;
  return ca;
}

absl::StatusOr<TestCertificate> MakeTestLeaf(const TestCertificate& ca, absl::string_view dir,
                                             absl::string_view name, const LeafOptions& options) {
  TestCertificate leaf{absl::StrCat(dir, "/", name, ".pem"), absl::StrCat(dir, "/", name, ".key")};
  const std::string csr = absl::StrCat(dir, "/", name, ".csr");
  const std::string extensions = absl::StrCat(dir, "/", name, ".ext");
  {
    std::ofstream out(extensions);
    out << "subjectAltName=" << options.subject_alt_name << "\n"
        << "basicConstraints=CA:FALSE\n"
        << "keyUsage=critical,digitalSignature,keyEncipherment\n"
        << "extendedKeyUsage=serverAuth,clientAuth\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", extensions));
  }
  absl::Status status =
      Run(dir, absl::StrCat("req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=",
                            options.common_name, " -keyout ", leaf.key_file, " -out ", csr));
  if (!status.ok()) return status;
  status = Run(dir, absl::StrCat("x509 -req -in ", csr, " -CA ", ca.cert_file, " -CAkey ",
                                 ca.key_file, " -set_serial ", options.serial, " -days ",
                                 options.days, " -extfile ", extensions, " -out ", leaf.cert_file));
  if (!status.ok()) return status;
  return leaf;
}

}  // namespace blockstore
