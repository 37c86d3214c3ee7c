#ifndef BLOCKSTORE_SERVER_SECURITY_TESTING_TEST_CERTS_H_
#define BLOCKSTORE_SERVER_SECURITY_TESTING_TEST_CERTS_H_

// Certificates made at test time with /usr/bin/openssl (testonly): no key material is checked
// into the tree, and each test gets its own CA, so nothing expires under the tests.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace blockstore {

// PEM files of one certificate and its key (EC P-256).
struct TestCertificate {
  std::string cert_file;
  std::string key_file;
};

// A self-signed CA in `dir`, files named after `name` (name.pem, name.key).
absl::StatusOr<TestCertificate> MakeTestCa(absl::string_view dir, absl::string_view name);

struct LeafOptions {
  std::string common_name = "blockstore-test";
  // subjectAltName: the server's names as clients dial them.
  std::string subject_alt_name = "DNS:localhost,IP:127.0.0.1";
  int serial = 1;
  // Valid from now for `days`; a negative count makes a certificate that has already expired.
  int days = 2;
};

// A certificate for server and client authentication signed by `ca`, in `dir` as name.pem and
// name.key. Writes the files in place (a rotation test replaces them through a rename itself).
absl::StatusOr<TestCertificate> MakeTestLeaf(const TestCertificate& ca, absl::string_view dir,
                                             absl::string_view name, const LeafOptions& options);

// The whole file, or an error.
absl::StatusOr<std::string> ReadTestFile(const std::string& path);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SECURITY_TESTING_TEST_CERTS_H_
