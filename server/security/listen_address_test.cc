#include "server/security/listen_address.h"

#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(ListenAddressTest, LoopbackAndUnixAreLocalOnly) {
  for (const char* listen : {"127.0.0.1:7420", "127.1.2.3:0", "[::1]:7420", "localhost:7420",
                             "LocalHost:1", "unix:/tmp/blockstore.sock"}) {
    EXPECT_TRUE(IsLocalOnlyListen(listen)) << listen;
  }
}

TEST(ListenAddressTest, EverythingElseMayBeRemote) {
  for (const char* listen :
       {"0.0.0.0:7420", "[::]:7420", "10.0.0.5:7420", "128.0.0.1:1", "[::ffff:127.0.0.1]:1",
        "blockstore-host:7420", "[fe80::1]:7420", ":7420"}) {
    EXPECT_FALSE(IsLocalOnlyListen(listen)) << listen;
  }
}

TEST(ListenAddressTest, PlaintextOnARemoteAddressIsRefusedNamingTheFlags) {
  const absl::Status status = CheckPlaintextListen("0.0.0.0:7420", false, false);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  for (const char* flag : {"--tls_cert_file", "--tls_key_file", "--allow_insecure_remote"}) {
    EXPECT_NE(status.message().find(flag), absl::string_view::npos) << status;
  }
}

TEST(ListenAddressTest, TlsOrTheExplicitOptOutAllowRemote) {
  EXPECT_TRUE(CheckPlaintextListen("0.0.0.0:7420", true, false).ok());
  EXPECT_TRUE(CheckPlaintextListen("0.0.0.0:7420", false, true).ok());
  EXPECT_TRUE(CheckPlaintextListen("127.0.0.1:7420", false, false).ok());
}

}  // namespace
}  // namespace blockstore
