#include "server/metrics/testing/http_get.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace blockstore {
namespace {

// Closes the socket on every return path.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  const int fd_;
};

absl::Status Errno(const char* what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::string> HttpGetForTest(int port, const std::string& path,
                                           absl::Duration timeout) {
  constexpr size_t kMaxResponseBytes = 64u << 20;
  Socket socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (socket.fd() < 0) return Errno("socket");
  const timeval tv = absl::ToTimeval(timeout);
  if (setsockopt(socket.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
      setsockopt(socket.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
    return Errno("setsockopt");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(socket.fd(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Errno("connect");
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n");
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(socket.fd(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return Errno("send");
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buffer[16384];
  while (response.size() < kMaxResponseBytes) {
    const ssize_t n = recv(socket.fd(), buffer, sizeof(buffer), 0);
    if (n < 0) return Errno("recv");
    if (n == 0) break;  // HTTP/1.0: the server closes after the body.
    response.append(buffer, static_cast<size_t>(n));
  }
  if (response.size() >= kMaxResponseBytes) {
    return absl::ResourceExhaustedError("response larger than 64 MiB");
  }
  const size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return absl::DataLossError(absl::StrCat("no end of headers in: ", response.substr(0, 200)));
  }
  const std::string status_line = response.substr(0, response.find("\r\n"));
  if (!absl::StartsWith(status_line, "HTTP/1.") || status_line.find(" 200") == std::string::npos) {
    return absl::FailedPreconditionError(status_line);
  }
  return response.substr(header_end + 4);
}

}  // namespace blockstore
