// Real gRPC servers on 127.0.0.1 with certificates made at test time: TLS, mutual TLS, the
// refusals that never reach a handler, and a certificate rotated on disk.

#include "server/security/server_credentials.h"

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/block_client.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/security/testing/test_certs.h"
#include "server/service/block_server.h"
#include "server/service/server_options.h"

namespace blockstore {
namespace {

constexpr char kVolume[] = "vol";
constexpr uint64_t kVolumeBytes = 1 << 20;

class ServerCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCertificate> ca = MakeTestCa(dir_.path(), "ca");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
    absl::StatusOr<TestCertificate> other_ca = MakeTestCa(dir_.path(), "other-ca");
    ASSERT_TRUE(other_ca.ok()) << other_ca.status();
    other_ca_ = *other_ca;
    LeafOptions leaf;
    leaf.serial = 1;
    absl::StatusOr<TestCertificate> server = MakeTestLeaf(ca_, dir_.path(), "server", leaf);
    ASSERT_TRUE(server.ok()) << server.status();
    server_cert_ = *server;

    options_.listen = "127.0.0.1:0";
    options_.data_dir = dir_.File("data");
    options_.metrics_listen = "";
    options_.io_backend = "sync";
    options_.tls.cert_file = server_cert_.cert_file;
    options_.tls.key_file = server_cert_.key_file;
    options_.tls.reload_interval = absl::Seconds(1);
  }

  std::unique_ptr<BlockServer> StartServer() {
    absl::StatusOr<std::unique_ptr<BlockServer>> server = BlockServer::Start(options_);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  // A client on a connection of its own (gRPC would otherwise share one between channels to
  // the same target), so each one makes its own handshake.
  std::unique_ptr<Client> NewClient(const std::string& address, ClientOptions options) {
    options.timeout = absl::Seconds(20);
    grpc::ChannelArguments args = DefaultChannelArguments();
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenChannel(address, options, args);
    EXPECT_TRUE(channel.ok()) << channel.status();
    if (!channel.ok()) return nullptr;
    return std::make_unique<Client>(*std::move(channel), options);
  }

  ClientOptions TrustingCa() const {
    ClientOptions options;
    options.tls_ca_file = ca_.cert_file;
    return options;
  }

  ClientOptions WithClientCertificate(const TestCertificate& leaf) const {
    ClientOptions options = TrustingCa();
    options.tls_cert_file = leaf.cert_file;
    options.tls_key_file = leaf.key_file;
    return options;
  }

  TestCertificate MakeLeaf(const TestCertificate& ca, const std::string& name, int serial,
                           int days = 2) {
    LeafOptions leaf;
    leaf.serial = serial;
    leaf.days = days;
    leaf.common_name = name;
    absl::StatusOr<TestCertificate> made = MakeTestLeaf(ca, dir_.path(), name, leaf);
    EXPECT_TRUE(made.ok()) << made.status();
    return made.ok() ? *made : TestCertificate{};
  }

  TempDir dir_;
  TestCertificate ca_;
  TestCertificate other_ca_;
  TestCertificate server_cert_;
  ServerOptions options_;
};

TEST_F(ServerCredentialsTest, TlsClientTrustingTheCaReadsAndWrites) {
  std::unique_ptr<BlockServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Client> client = NewClient(server->address(), TrustingCa());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->CreateVolume(kVolume, kVolumeBytes).ok());
  const std::string page(4096, 'a');
  ASSERT_TRUE(client->WritePage(kVolume, 3, 0, page).ok());
  absl::StatusOr<std::string> read = client->ReadPage(kVolume, 3);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, page);
}

TEST_F(ServerCredentialsTest, PlaintextClientToATlsServerIsUnavailable) {
  std::unique_ptr<BlockServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Client> client = NewClient(server->address(), ClientOptions());
  ASSERT_NE(client, nullptr);
  absl::StatusOr<std::vector<v1::VolumeInfo>> listed = client->ListVolumes();
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kUnavailable) << listed.status();
}

TEST_F(ServerCredentialsTest, ClientRefusesAServerFromAnotherCaWithTheHandshakeReason) {
  std::unique_ptr<BlockServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  ClientOptions options;
  options.tls_ca_file = other_ca_.cert_file;
  std::unique_ptr<Client> client = NewClient(server->address(), options);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<std::vector<v1::VolumeInfo>> listed = client->ListVolumes();
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kUnavailable) << listed.status();
  EXPECT_FALSE(listed.status().message().empty());
}

TEST_F(ServerCredentialsTest, MutualTlsRefusesEveryBadCertificateBeforeAnyHandler) {
  options_.tls.client_ca_file = ca_.cert_file;
  std::unique_ptr<BlockServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  const TestCertificate good = MakeLeaf(ca_, "client-good", 10);
  const TestCertificate foreign = MakeLeaf(other_ca_, "client-foreign", 11);
  const TestCertificate expired = MakeLeaf(ca_, "client-expired", 12, /*days=*/-1);

  std::unique_ptr<Client> owner = NewClient(server->address(), WithClientCertificate(good));
  ASSERT_NE(owner, nullptr);
  ASSERT_TRUE(owner->CreateVolume(kVolume, kVolumeBytes).ok());
  const std::string original(4096, 'o');
  ASSERT_TRUE(owner->WritePage(kVolume, 0, 0, original).ok());

  const struct {
    const char* what;
    ClientOptions options;
  } refused[] = {
      {"no client certificate", TrustingCa()},
      {"a certificate from another CA", WithClientCertificate(foreign)},
      {"an expired certificate", WithClientCertificate(expired)},
  };
  const std::string overwrite(4096, 'x');
  for (const auto& c : refused) {
    std::unique_ptr<Client> client = NewClient(server->address(), c.options);
    ASSERT_NE(client, nullptr);
    const absl::Status write = client->WritePage(kVolume, 0, 0, overwrite);
    EXPECT_EQ(write.code(), absl::StatusCode::kUnavailable) << c.what << ": " << write;
    EXPECT_EQ(client->DeleteVolume(kVolume).code(), absl::StatusCode::kUnavailable) << c.what;
  }

  absl::StatusOr<std::string> read = owner->ReadPage(kVolume, 0);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, original);
  absl::StatusOr<std::vector<v1::VolumeInfo>> listed = owner->ListVolumes();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 1u);
}

// The PEM of the certificate the server presented on `client`'s connection ("" on failure).
std::string ServedCertificate(Client* client) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  v1::ListVolumesRequest request;
  v1::ListVolumesResponse response;
  if (!client->stub()->ListVolumes(&context, request, &response).ok()) return "";
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return "";
  std::vector<grpc::string_ref> pem = auth->FindPropertyValues("x509_pem_cert");
  if (pem.empty()) return "";
  return std::string(pem[0].data(), pem[0].size());
}

TEST_F(ServerCredentialsTest, ACertificateRotatedOnDiskServesNewConnections) {
  std::unique_ptr<BlockServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::string> first_pem = ReadTestFile(server_cert_.cert_file);
  ASSERT_TRUE(first_pem.ok());
  std::unique_ptr<Client> connected = NewClient(server->address(), TrustingCa());
  ASSERT_NE(connected, nullptr);
  EXPECT_EQ(absl::StripAsciiWhitespace(ServedCertificate(connected.get())),
            absl::StripAsciiWhitespace(*first_pem));

  // Another certificate (serial 2) moved over the served files, key first: each rename is
  // atomic, and gRPC keeps the old pair while the two do not match.
  const TestCertificate rotated = MakeLeaf(ca_, "server-rotated", 2);
  ASSERT_EQ(std::rename(rotated.key_file.c_str(), server_cert_.key_file.c_str()), 0);
  ASSERT_EQ(std::rename(rotated.cert_file.c_str(), server_cert_.cert_file.c_str()), 0);
  absl::StatusOr<std::string> second_pem = ReadTestFile(server_cert_.cert_file);
  ASSERT_TRUE(second_pem.ok());
  ASSERT_NE(*first_pem, *second_pem);

  // Reloads every second; a new connection shows it within a bounded wait.
  std::string served;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  for (int attempt = 0; attempt < 300 && absl::Now() < give_up; ++attempt) {
    std::unique_ptr<Client> fresh = NewClient(server->address(), TrustingCa());
    ASSERT_NE(fresh, nullptr);
    served = std::string(absl::StripAsciiWhitespace(ServedCertificate(fresh.get())));
    if (served == absl::StripAsciiWhitespace(*second_pem)) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(served, absl::StripAsciiWhitespace(*second_pem));
  // The connection made before the rotation goes on.
  EXPECT_TRUE(connected->ListVolumes().ok());
}

TEST_F(ServerCredentialsTest, UnreadableOrWrongFilesStopStartNamingTheFlag) {
  options_.tls.cert_file = dir_.File("missing.pem");
  absl::StatusOr<std::unique_ptr<BlockServer>> server = BlockServer::Start(options_);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::StartsWith(server.status().message(), "tls_cert_file:")) << server.status();

  options_.tls.cert_file = server_cert_.cert_file;
  options_.tls.key_file = server_cert_.cert_file;  // a certificate where the key belongs
  server = BlockServer::Start(options_);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::StartsWith(server.status().message(), "tls_key_file:")) << server.status();

  options_.tls.key_file = "";
  EXPECT_EQ(ValidateServerOptions(options_).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ServerCredentialsTest, ClientReportsABadCertificateFileInOneLine) {
  ClientOptions options;
  options.tls_ca_file = dir_.File("nope.pem");
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Open("127.0.0.1:1", options);
  ASSERT_FALSE(client.ok());
  EXPECT_TRUE(absl::StartsWith(client.status().message(), "tls_ca_file:")) << client.status();
  options.tls_ca_file = server_cert_.key_file;
  client = Client::Open("127.0.0.1:1", options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().message().find('\n'), std::string::npos);
  options = ClientOptions();
  options.tls_server_name = "localhost";
  EXPECT_FALSE(Client::Open("127.0.0.1:1", options).ok());
}

TEST(PlaintextListenTest, RemotePlaintextIsRefusedUnlessAllowed) {
  ServerOptions options;
  options.listen = "0.0.0.0:0";
  const absl::Status status = ValidateServerOptions(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("--tls_cert_file"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("--allow_insecure_remote"), absl::string_view::npos);
  absl::StatusOr<std::unique_ptr<BlockServer>> server = BlockServer::Start(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);

  options.allow_insecure_remote = true;
  EXPECT_TRUE(ValidateServerOptions(options).ok());
  options.allow_insecure_remote = false;
  options.tls.cert_file = "server.pem";
  options.tls.key_file = "server.key";
  EXPECT_TRUE(ValidateServerOptions(options).ok());

  ServerOptions local;  // the README's first command: plaintext on 127.0.0.1
  EXPECT_TRUE(ValidateServerOptions(local).ok());
  local.listen = "unix:/tmp/blockstore.sock";
  EXPECT_TRUE(ValidateServerOptions(local).ok());
}

}  // namespace
}  // namespace blockstore
