#include "server/service/server_options.h"

#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(ServerOptionsTest, DefaultsAreValid) {
  const ServerOptions options;
  EXPECT_TRUE(ValidateServerOptions(options).ok());
  EXPECT_EQ(options.listen, "127.0.0.1:7420");
  EXPECT_EQ(options.metrics_listen, "127.0.0.1:9420");
  EXPECT_EQ(options.data_dir, "data/blockstore");
  EXPECT_EQ(options.max_message_bytes, (1u << 20) + 4096);
}

TEST(ServerOptionsTest, BadValuesNameTheOption) {
  const struct {
    void (*mutate)(ServerOptions*);
    const char* field;
  } cases[] = {
      {[](ServerOptions* o) { o->listen = "nocolon"; }, "listen"},
      {[](ServerOptions* o) { o->listen = "127.0.0.1:99999"; }, "listen"},
      {[](ServerOptions* o) { o->listen = "unix:"; }, "listen"},
      {[](ServerOptions* o) { o->metrics_listen = "x"; }, "metrics_listen"},
      {[](ServerOptions* o) { o->io_backend = "aio"; }, "io_backend"},
      {[](ServerOptions* o) { o->data_dir = ""; }, "data_dir"},
      {[](ServerOptions* o) { o->store = "nfs"; }, "store"},
      {[](ServerOptions* o) {
         o->store = "rbd";
         o->rbd.pool = "";
       },
       "rbd_pool"},
      {[](ServerOptions* o) { o->volume.cache_bytes = 1; }, "cache_bytes"},
      {[](ServerOptions* o) { o->volume.dirty_limit_bytes = 0; }, "dirty_limit_bytes"},
      {[](ServerOptions* o) { o->volume.dirty_background_bytes = o->volume.dirty_limit_bytes + 1; },
       "dirty_background_bytes"},
      {[](ServerOptions* o) { o->volume.dirty_expire = absl::ZeroDuration(); }, "dirty_expire"},
      {[](ServerOptions* o) { o->volume.flusher_interval = absl::ZeroDuration(); },
       "flusher_interval"},
      {[](ServerOptions* o) { o->max_message_bytes = kMinMaxMessageBytes - 1; },
       "max_message_bytes"},
      {[](ServerOptions* o) { o->max_message_bytes = kMaxMaxMessageBytes + 1; },
       "max_message_bytes"},
  };
  for (const auto& c : cases) {
    ServerOptions options;
    c.mutate(&options);
    const absl::Status status = ValidateServerOptions(options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_EQ(status.message().substr(0, std::string(c.field).size() + 1),
              std::string(c.field) + ":")
        << status;
  }
}

TEST(ServerOptionsTest, EmptyMetricsListenDisablesMetrics) {
  ServerOptions options;
  options.metrics_listen = "";
  EXPECT_TRUE(ValidateServerOptions(options).ok());
}

TEST(ServerOptionsTest, BoundAddressSubstitutesThePort) {
  EXPECT_EQ(BoundAddress("127.0.0.1:0", 41234), "127.0.0.1:41234");
  EXPECT_EQ(BoundAddress("[::1]:0", 5), "[::1]:5");
  EXPECT_EQ(BoundAddress("unix:/tmp/x.sock", 1), "unix:/tmp/x.sock");
}

TEST(ServerOptionsTest, TheDefaultAdvertisedAddressIsOneOtherMachinesCanDial) {
  EXPECT_EQ(DefaultAdvertiseAddress("0.0.0.0:7420", "node-3"), "node-3:7420");
  EXPECT_EQ(DefaultAdvertiseAddress("[::]:7420", "node-3"), "node-3:7420");
  EXPECT_EQ(DefaultAdvertiseAddress("10.0.0.7:7420", "node-3"), "10.0.0.7:7420");
  EXPECT_EQ(DefaultAdvertiseAddress("127.0.0.1:41234", "node-3"), "127.0.0.1:41234");
  EXPECT_EQ(DefaultAdvertiseAddress("unix:/run/b.sock", "node-3"), "unix:/run/b.sock");
}

}  // namespace
}  // namespace blockstore
