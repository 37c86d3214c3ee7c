#include "server/integration/metrics_scrape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace blockstore {
namespace {

constexpr char kExposition[] =
    "# HELP blockstore_cache_evictions_total Clean pages evicted.\n"
    "# TYPE blockstore_cache_evictions_total counter\n"
    "blockstore_cache_evictions_total{volume=\"a\"} 10\n"
    "blockstore_cache_evictions_total{volume=\"b\"} 2.5e1\n"
    "blockstore_cache_evictions_total_other{volume=\"a\"} 1000\n"
    "blockstore_volumes 4\n"
    "blockstore_flush_seconds_bucket{volume=\"a\",le=\"0.1\"} 7\n"
    "blockstore_flush_seconds_count{volume=\"a\"} 7 1700000000000\n";

TEST(MetricsScrapeTest, SumsEveryLabelSetOfOneMetric) {
  EXPECT_DOUBLE_EQ(SumSamples(kExposition, "blockstore_cache_evictions_total"), 35);
  EXPECT_DOUBLE_EQ(SumSamples(kExposition, "blockstore_volumes"), 4);
  EXPECT_DOUBLE_EQ(SumSamples(kExposition, "blockstore_flush_seconds_count"), 7);
  EXPECT_DOUBLE_EQ(SumSamples(kExposition, "blockstore_flush_seconds"), 0);
  EXPECT_DOUBLE_EQ(SumSamples(kExposition, "blockstore_missing"), 0);
}

// A listening socket on 127.0.0.1 port 0; its port.
int Listen(int* fd) {
  *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(*fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return -1;
  if (listen(*fd, 4) != 0) return -1;
  socklen_t length = sizeof(address);
  getsockname(*fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

TEST(MetricsScrapeTest, FindsThePortsThisProcessListensOn) {
  int fd = -1;
  const int port = Listen(&fd);
  ASSERT_GT(port, 0);
  absl::StatusOr<std::vector<int>> ports = ListeningTcpPorts(getpid());
  close(fd);
  ASSERT_TRUE(ports.ok()) << ports.status();
  EXPECT_NE(std::find(ports->begin(), ports->end(), port), ports->end());
  absl::StatusOr<std::vector<int>> after = ListeningTcpPorts(getpid());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(std::find(after->begin(), after->end(), port), after->end());
}

// Answers one connection with `answer` after reading the request's header.
void ServeOnce(int listen_fd, const std::string& answer) {
  const int fd = accept(listen_fd, nullptr, nullptr);
  if (fd < 0) return;
  std::string request;
  char buffer[1024];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    request.append(buffer, static_cast<size_t>(n));
  }
  send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
  close(fd);
}

TEST(MetricsScrapeTest, GetsTheBodyOfAnOkAnswer) {
  int fd = -1;
  const int port = Listen(&fd);
  ASSERT_GT(port, 0);
  std::thread server(ServeOnce, fd,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nblockstore_volumes 4\n");
  absl::StatusOr<std::string> body = HttpGetLoopback(port, "/metrics", absl::Seconds(10));
  server.join();
  close(fd);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "blockstore_volumes 4\n");
}

TEST(MetricsScrapeTest, AnythingButOkIsAnError) {
  int fd = -1;
  const int port = Listen(&fd);
  ASSERT_GT(port, 0);
  std::thread server(ServeOnce, fd, "HTTP/1.1 404 Not Found\r\n\r\nno");
  absl::StatusOr<std::string> body = HttpGetLoopback(port, "/nothing", absl::Seconds(10));
  server.join();
  close(fd);
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(body.status().message().find("404"), std::string::npos) << body.status();
}

}  // namespace
}  // namespace blockstore
