// Who may do what, end to end: a real BlockServer on 127.0.0.1 with client certificates made
// by openssl at test time (mutual TLS) or bearer tokens (plaintext on loopback), an access
// policy, the real C++ client, and /metrics scraped over HTTP. Every refusal is checked to
// leave the volume as it was.

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/block_client.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/metrics/testing/http_get.h"
#include "server/security/testing/test_certs.h"
#include "server/service/block_server.h"
#include "server/service/server_options.h"

namespace blockstore {
namespace {

constexpr uint64_t kVolumeBytes = 1 << 20;
constexpr uint32_t kPage = 4096;
// printf %s s3cret | sha256sum; printf %s other-s3cret | sha256sum
constexpr char kBackupToken[] = "s3cret";
constexpr char kBackupHash[] = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0";
constexpr char kOtherToken[] = "other-s3cret";

void WriteFile(const std::string& path, const std::string& contents) {
  const std::string temp = path + ".tmp";
  std::ofstream(temp, std::ios::trunc) << contents;
  ASSERT_EQ(std::rename(temp.c_str(), path.c_str()), 0);
}

// blockstore_requests_denied_total{reason="..."} from a scrape.
double DeniedCount(int metrics_port, const std::string& reason) {
  absl::StatusOr<std::string> body = HttpGetForTest(metrics_port, "/metrics");
  EXPECT_TRUE(body.ok()) << body.status();
  if (!body.ok()) return -1;
  const std::string prefix =
      absl::StrCat("blockstore_requests_denied_total{reason=\"", reason, "\"} ");
  for (absl::string_view line : absl::StrSplit(*body, '\n')) {
    if (!absl::ConsumePrefix(&line, prefix)) continue;
    double value = 0;
    EXPECT_TRUE(absl::SimpleAtod(line, &value)) << line;
    return value;
  }
  ADD_FAILURE() << "no series for reason " << reason;
  return -1;
}

class AccessControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.listen = "127.0.0.1:0";
    options_.data_dir = dir_.File("data");
    options_.metrics_listen = "127.0.0.1:0";
    options_.io_backend = "sync";
    options_.access.reload_interval = absl::Hours(1);  // tests reload explicitly
  }

  std::unique_ptr<BlockServer> StartServer() {
    absl::StatusOr<std::unique_ptr<BlockServer>> server = BlockServer::Start(options_);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  std::unique_ptr<Client> NewClient(const std::string& address, ClientOptions options) {
    options.timeout = absl::Seconds(20);
    grpc::ChannelArguments args = DefaultChannelArguments();
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenChannel(address, options, args);
    EXPECT_TRUE(channel.ok()) << channel.status();
    if (!channel.ok()) return nullptr;
    return std::make_unique<Client>(*std::move(channel), options);
  }

  TempDir dir_;
  ServerOptions options_;
};

// Mutual TLS: identities from client certificates ------------------------------------------

class MutualTlsAccessTest : public AccessControlTest {
 protected:
  void SetUp() override {
    AccessControlTest::SetUp();
    absl::StatusOr<TestCertificate> ca = MakeTestCa(dir_.path(), "ca");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
    server_cert_ = Leaf("server", "blockstore-test", "DNS:localhost,IP:127.0.0.1", 1);
    admin_ = Leaf("admin", "admin", "DNS:admin.clients.test", 2);
    reader_ = Leaf("reader", "reader", "DNS:reader.clients.test", 3);
    writer_ = Leaf("writer", "writer-cn", "URI:spiffe://test/ns/db/sa/writer", 4);
    stranger_ = Leaf("stranger", "stranger", "DNS:stranger.clients.test", 5);
    options_.tls.cert_file = server_cert_.cert_file;
    options_.tls.key_file = server_cert_.key_file;
    options_.tls.client_ca_file = ca_.cert_file;
    options_.access.policy_file = dir_.File("policy.txtpb");
    WriteFile(options_.access.policy_file, R"pb(
      rules {
        identities: "cn:admin"
        volumes: "*"
        permissions: ADMIN
        permissions: READ
        permissions: WRITE
      }
      rules { identities: "dns:reader.clients.test" volumes: "db-*" permissions: READ }
      rules {
        identities: "uri:spiffe://test/ns/db/sa/writer"
        volumes: "db-*"
        permissions: READ
        permissions: WRITE
      }
    )pb");
  }

  TestCertificate Leaf(const std::string& name, const std::string& cn, const std::string& san,
                       int serial) {
    LeafOptions leaf;
    leaf.common_name = cn;
    leaf.subject_alt_name = san;
    leaf.serial = serial;
    absl::StatusOr<TestCertificate> made = MakeTestLeaf(ca_, dir_.path(), name, leaf);
    EXPECT_TRUE(made.ok()) << made.status();
    return made.ok() ? *made : TestCertificate{};
  }

  std::unique_ptr<Client> As(const BlockServer& server, const TestCertificate& who) {
    ClientOptions options;
    options.tls_ca_file = ca_.cert_file;
    options.tls_cert_file = who.cert_file;
    options.tls_key_file = who.key_file;
    return NewClient(server.address(), options);
  }

  TestCertificate ca_, server_cert_, admin_, reader_, writer_, stranger_;
};

TEST_F(MutualTlsAccessTest, EachCertificateGetsWhatThePolicyGivesItAndRefusalsChangeNothing) {
  std::unique_ptr<BlockServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(server->serves_reflection());  // only certificates the CA signed get this far
  std::unique_ptr<Client> admin = As(*server, admin_);
  std::unique_ptr<Client> reader = As(*server, reader_);
  std::unique_ptr<Client> writer = As(*server, writer_);
  std::unique_ptr<Client> stranger = As(*server, stranger_);
  ASSERT_TRUE(admin && reader && writer && stranger);

  ASSERT_TRUE(admin->CreateVolume("db-1", kVolumeBytes).ok());
  ASSERT_TRUE(admin->CreateVolume("web-1", kVolumeBytes).ok());
  const std::string original(kPage, 'o');
  ASSERT_TRUE(admin->WritePage("db-1", 0, 0, original).ok());
  ASSERT_TRUE(admin->WritePage("web-1", 0, 0, original).ok());
  ASSERT_TRUE(admin->Flush("db-1").ok());

  // READ only.
  absl::StatusOr<std::string> read = reader->ReadPage("db-1", 0);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, original);
  EXPECT_TRUE(reader->GetVolumeInfo("db-1").ok());
  const absl::Status reader_write = reader->WritePage("db-1", 0, 0, std::string(kPage, 'r'));
  EXPECT_EQ(reader_write.code(), absl::StatusCode::kPermissionDenied) << reader_write;
  EXPECT_TRUE(absl::StrContains(reader_write.message(), "may not WRITE volume \"db-1\""))
      << reader_write;
  EXPECT_EQ(reader->Flush("db-1").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reader->DeleteVolume("db-1").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reader->CreateVolume("db-2", kVolumeBytes).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reader->ReadPage("web-1", 0).status().code(), absl::StatusCode::kPermissionDenied);
  {
    // On a ReadPageBatches stream each read is authorized on its own: db-1 read, web-1 refused.
    std::unique_ptr<PageReader> stream = reader->NewPageReader(4);
    absl::Mutex mu;
    std::vector<ReadResult> results;
    auto record = [&](const ReadResult& result) {
      absl::MutexLock lock(&mu);
      results.push_back(result);
    };
    ASSERT_TRUE(stream->Read("db-1", 0, record).ok());
    ASSERT_TRUE(stream->Read("web-1", 0, record).ok());
    ASSERT_TRUE(stream->Finish().ok());
    absl::MutexLock lock(&mu);
    ASSERT_EQ(results.size(), 2u);
    for (const ReadResult& result : results) {
      if (result.request_id == 1) {
        EXPECT_TRUE(result.status.ok()) << result.status;
        EXPECT_EQ(result.data, original);
      } else {
        EXPECT_EQ(result.status.code(), absl::StatusCode::kPermissionDenied) << result.status;
        EXPECT_TRUE(result.data.empty());
      }
    }
  }
  absl::StatusOr<std::vector<v1::VolumeInfo>> listed = reader->ListVolumes();
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);  // web-1 is not its business
  EXPECT_EQ((*listed)[0].name(), "db-1");

  // A valid certificate that no rule names: nothing, not even which names exist.
  EXPECT_EQ(stranger->ReadPage("db-1", 0).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(stranger->GetVolumeInfo("no-such-volume").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(stranger->WritePage("db-1", 0, 0, std::string(kPage, 's')).code(),
            absl::StatusCode::kPermissionDenied);
  listed = stranger->ListVolumes();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(listed->empty());

  // The writer is known by its certificate's URI SAN. In one stream, the write to a volume it
  // may not write fails alone.
  std::unique_ptr<PageWriter> stream = writer->NewPageWriter();
  std::vector<WriteResult> results(3);
  const std::string written(kPage, 'w');
  ASSERT_TRUE(
      stream->Write("db-1", 1, 0, written, false, [&](const WriteResult& r) { results[0] = r; })
          .ok());
  ASSERT_TRUE(
      stream->Write("web-1", 0, 0, written, false, [&](const WriteResult& r) { results[1] = r; })
          .ok());
  ASSERT_TRUE(
      stream->Write("db-1", 2, 0, written, false, [&](const WriteResult& r) { results[2] = r; })
          .ok());
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_TRUE(results[0].status.ok()) << results[0].status;
  EXPECT_EQ(results[1].status.code(), absl::StatusCode::kPermissionDenied) << results[1].status;
  EXPECT_TRUE(results[2].status.ok()) << results[2].status;
  EXPECT_TRUE(writer->Flush("db-1").ok());
  EXPECT_EQ(writer->DeleteVolume("db-1").code(), absl::StatusCode::kPermissionDenied);

  // Nothing refused changed anything.
  for (const auto& [volume, page, want] :
       std::vector<std::tuple<std::string, uint64_t, std::string>>{{"db-1", 0, original},
                                                                   {"db-1", 1, written},
                                                                   {"db-1", 2, written},
                                                                   {"web-1", 0, original}}) {
    absl::StatusOr<std::string> now = admin->ReadPage(volume, page);
    ASSERT_TRUE(now.ok()) << now.status();
    EXPECT_EQ(*now, want) << volume << " page " << page;
  }
  absl::StatusOr<std::vector<v1::VolumeInfo>> all = admin->ListVolumes();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);

  // reader: write, flush, delete, create, read web-1, the read stream's read of web-1;
  // stranger: read, info, write; the stream write to web-1; writer's delete. The client
  // samples its error cursor (GetVolumeInfo, READ) before its first write to a volume:
  // stranger's write and the stream's write to web-1 add one refused READ each.
  EXPECT_EQ(DeniedCount(server->metrics_port(), "permission_denied"), 13);
  EXPECT_EQ(DeniedCount(server->metrics_port(), "unauthenticated"), 0);
}

TEST_F(MutualTlsAccessTest, APolicyChangedOnDiskTakesEffectAndABrokenEditIsIgnored) {
  std::unique_ptr<BlockServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Client> admin = As(*server, admin_);
  std::unique_ptr<Client> reader = As(*server, reader_);
  ASSERT_TRUE(admin->CreateVolume("db-1", kVolumeBytes).ok());
  const std::string page(kPage, 'x');
  EXPECT_EQ(reader->WritePage("db-1", 0, 0, page).code(), absl::StatusCode::kPermissionDenied);

  WriteFile(options_.access.policy_file, R"pb(
    rules {
      identities: "dns:reader.clients.test"
      volumes: "db-*"
      permissions: READ
      permissions: WRITE
    })pb");
  server->authorizer()->ReloadNowForTesting();
  EXPECT_TRUE(reader->WritePage("db-1", 0, 0, page).ok());
  // The admin rule is gone with the rewrite.
  EXPECT_EQ(admin->ReadPage("db-1", 0).status().code(), absl::StatusCode::kPermissionDenied);

  WriteFile(options_.access.policy_file, "rules { identities: \"nonsense\" }");
  server->authorizer()->ReloadNowForTesting();
  EXPECT_TRUE(reader->WritePage("db-1", 0, 0, page).ok());  // the previous policy holds
}

TEST_F(MutualTlsAccessTest, WithoutAPolicyEveryCertificateTheCaSignedMayDoEverything) {
  options_.access.policy_file.clear();
  std::unique_ptr<BlockServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Client> stranger = As(*server, stranger_);
  ASSERT_TRUE(stranger->CreateVolume("anything", kVolumeBytes).ok());
  EXPECT_TRUE(stranger->WritePage("anything", 0, 0, std::string(kPage, 'a')).ok());
  EXPECT_TRUE(stranger->DeleteVolume("anything").ok());
}

// Bearer tokens on loopback ----------------------------------------------------------------

class TokenAccessTest : public AccessControlTest {
 protected:
  void SetUp() override {
    AccessControlTest::SetUp();
    options_.access.tokens_file = dir_.File("tokens");
    WriteFile(options_.access.tokens_file,
              absl::StrCat("# test tokens\nbackup ", kBackupHash, "\n"));
    options_.access.policy_file = dir_.File("policy.txtpb");
    WriteFile(options_.access.policy_file, R"pb(
      rules {
        identities: "token:backup"
        volumes: "b-*"
        permissions: ADMIN
        permissions: READ
        permissions: WRITE
      })pb");
    WriteFile(dir_.File("backup.token"), absl::StrCat(kBackupToken, "\n"));
    WriteFile(dir_.File("other.token"), kOtherToken);
  }
  std::unique_ptr<Client> WithToken(const BlockServer& server, const std::string& file) {
    ClientOptions options;
    if (!file.empty()) options.token_file = dir_.File(file);
    return NewClient(server.address(), options);
  }
};

TEST_F(TokenAccessTest, TheRightTokenWorksAndAMissingOrWrongOneIsUnauthenticated) {
  std::unique_ptr<BlockServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  // Tokens alone cannot be checked before reflection answers: it is not served.
  EXPECT_FALSE(server->serves_reflection());
  std::unique_ptr<Client> backup = WithToken(*server, "backup.token");
  std::unique_ptr<Client> none = WithToken(*server, "");
  std::unique_ptr<Client> wrong = WithToken(*server, "other.token");
  ASSERT_TRUE(backup && none && wrong);

  ASSERT_TRUE(backup->CreateVolume("b-1", kVolumeBytes).ok());
  const std::string page(kPage, 'b');
  ASSERT_TRUE(backup->WritePage("b-1", 0, 0, page).ok());
  EXPECT_EQ(backup->CreateVolume("c-1", kVolumeBytes).status().code(),
            absl::StatusCode::kPermissionDenied);

  for (Client* client : {none.get(), wrong.get()}) {
    const absl::Status write = client->WritePage("b-1", 0, 0, std::string(kPage, 'x'));
    EXPECT_EQ(write.code(), absl::StatusCode::kUnauthenticated) << write;
    EXPECT_FALSE(absl::StrContains(write.message(), kOtherToken)) << write;
    EXPECT_EQ(client->ReadPage("b-1", 0).status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(client->ListVolumes().status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(client->DeleteVolume("b-1").code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(client->Flush("b-1").code(), absl::StatusCode::kUnauthenticated);
  }
  absl::StatusOr<std::string> read = backup->ReadPage("b-1", 0);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, page);
  // 5 refusals each for the two clients, and the GetVolumeInfo each client's first write makes
  // to sample its error cursor.
  EXPECT_EQ(DeniedCount(server->metrics_port(), "unauthenticated"), 12);
  EXPECT_EQ(DeniedCount(server->metrics_port(), "permission_denied"), 1);

  // Revoked on disk: refused from the next reload, without a restart.
  WriteFile(options_.access.tokens_file, "# nobody\n");
  server->authorizer()->ReloadNowForTesting();
  EXPECT_EQ(backup->ReadPage("b-1", 0).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(TokenAccessTest, TheClientRefusesToSendATokenInTheClearOverANetwork) {
  ClientOptions options;
  options.token_file = dir_.File("backup.token");
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenChannel("10.1.2.3:7420", options);
  ASSERT_FALSE(channel.ok());
  EXPECT_TRUE(absl::StartsWith(channel.status().message(), "token_file:")) << channel.status();
  options.token_file = dir_.File("missing.token");
  channel = OpenChannel("127.0.0.1:7420", options);
  ASSERT_FALSE(channel.ok());
  EXPECT_TRUE(absl::StartsWith(channel.status().message(), "token_file: cannot read"))
      << channel.status();
}

TEST_F(TokenAccessTest, TheServerRefusesToStartWithTokensInTheClearOrAPolicyNobodyCanMatch) {
  ServerOptions remote = options_;
  remote.listen = "0.0.0.0:0";
  remote.allow_insecure_remote = true;
  absl::StatusOr<std::unique_ptr<BlockServer>> server = BlockServer::Start(remote);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::StartsWith(server.status().message(), "access_tokens_file:"))
      << server.status();

  ServerOptions no_identity = options_;
  no_identity.access.tokens_file.clear();
  server = BlockServer::Start(no_identity);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::StartsWith(server.status().message(), "access_policy_file:"))
      << server.status();

  ServerOptions broken = options_;
  WriteFile(dir_.File("broken.txtpb"), "rules { volumes: \"*\" }");
  broken.access.policy_file = dir_.File("broken.txtpb");
  server = BlockServer::Start(broken);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::StrContains(server.status().message(), "rules[0]")) << server.status();
}

// Per-client limits ------------------------------------------------------------------------

class ClientLimitsAccessTest : public TokenAccessTest {
 protected:
  void SetUp() override {
    TokenAccessTest::SetUp();
    WriteFile(options_.access.tokens_file,
              absl::StrCat("backup ", kBackupHash, "\nother ",
                           "2e34f5a7a1fe3b8a05c81cbe4a35f537331ded789d76596aea40d1e71658eedd\n"));
    WriteFile(options_.access.policy_file,
              R"pb(
                rules {
                  identities: "*"
                  volumes: "*"
                  permissions: ADMIN
                  permissions: READ
                  permissions: WRITE
                })pb");
  }
};

TEST_F(ClientLimitsAccessTest, AClientOverItsWriteRateIsToldWhenToRetryAndOthersAreNotSlowed) {
  options_.client_limits.max_writes_per_second = 10;  // a bucket of 64 writes
  std::unique_ptr<BlockServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Client> backup = WithToken(*server, "backup.token");
  std::unique_ptr<Client> other = WithToken(*server, "other.token");
  ASSERT_TRUE(backup->CreateVolume("v", kVolumeBytes).ok());
  const std::string page(kPage, 'p');
  int accepted = 0;
  grpc::Status refused;
  std::string pushback;
  for (int i = 0; i < 200 && refused.ok(); ++i) {
    v1::WritePageRequest request;
    request.set_volume("v");
    request.set_page_index(i % 16);
    request.set_data(page);
    v1::WritePageResponse response;
    grpc::ClientContext context;
    refused = backup->stub()->WritePage(&context, request, &response);
    if (refused.ok()) {
      ++accepted;
    } else {
      auto it = context.GetServerTrailingMetadata().find("grpc-retry-pushback-ms");
      if (it != context.GetServerTrailingMetadata().end()) {
        pushback = std::string(it->second.data(), it->second.size());
      }
    }
  }
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "writes per second"));
  EXPECT_GE(accepted, 64);
  EXPECT_LT(accepted, 200);
  int64_t pushback_ms = 0;
  EXPECT_TRUE(absl::SimpleAtoi(pushback, &pushback_ms)) << "trailer: \"" << pushback << "\"";
  EXPECT_GT(pushback_ms, 0);
  // Another identity has its own bucket.
  EXPECT_TRUE(other->WritePage("v", 0, 0, page).ok());
  EXPECT_GE(DeniedCount(server->metrics_port(), "writes_per_second_per_client"), 1);
}

TEST_F(ClientLimitsAccessTest, StreamsAreCountedPerClient) {
  options_.client_limits.max_streams = 1;
  std::unique_ptr<BlockServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Client> backup = WithToken(*server, "backup.token");
  std::unique_ptr<Client> other = WithToken(*server, "other.token");
  ASSERT_TRUE(backup->CreateVolume("v", kVolumeBytes).ok());
  const std::string page(kPage, 's');

  // The first stream is open (a write answered proves the server holds it).
  grpc::ClientContext first_context;
  auto first = backup->stub()->WritePages(&first_context);
  v1::WritePageRequest request;
  request.set_volume("v");
  request.set_data(page);
  ASSERT_TRUE(first->Write(request));
  v1::WritePageResponse response;
  ASSERT_TRUE(first->Read(&response));
  EXPECT_EQ(response.code(), 0) << response.message();

  grpc::ClientContext second_context;
  auto second = backup->stub()->WritePages(&second_context);
  second->WritesDone();
  const grpc::Status refused = second->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "streams open"))
      << refused.error_message();

  // Another client still opens its own.
  std::unique_ptr<PageWriter> others = other->NewPageWriter();
  absl::Status other_write;
  ASSERT_TRUE(
      others->Write("v", 1, 0, page, false, [&](const WriteResult& r) { other_write = r.status; })
          .ok());
  EXPECT_TRUE(others->Finish().ok());
  EXPECT_TRUE(other_write.ok()) << other_write;

  first->WritesDone();
  EXPECT_TRUE(first->Finish().ok());
  // A closed stream gives its place back when the server's side is done (OnDone), which may
  // come a moment after the client saw the status.
  absl::Status flushed = backup->Flush("v");
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (absl::IsResourceExhausted(flushed) && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));
    flushed = backup->Flush("v");
  }
  EXPECT_TRUE(flushed.ok()) << flushed;
  EXPECT_GE(DeniedCount(server->metrics_port(), "streams_per_client"), 1);
}

}  // namespace
}  // namespace blockstore
