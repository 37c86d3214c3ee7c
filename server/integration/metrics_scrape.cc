#include "server/integration/metrics_scrape.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace blockstore {
namespace {

constexpr size_t kMaxBodyBytes = 16 << 20;

// "socket:[12345]" -> 12345.
bool SocketInode(absl::string_view link, uint64_t* inode) {
  if (!absl::ConsumePrefix(&link, "socket:[") || !absl::ConsumeSuffix(&link, "]")) return false;
  return absl::SimpleAtoi(link, inode);
}

// Adds the ports of the listening sockets (state 0A) of `table` whose inode is in `inodes`.
void AddListening(const std::string& table, const std::set<uint64_t>& inodes,
                  std::set<int>* ports) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // the header
  // Bounded by the table's size.
  while (std::getline(in, line)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    const std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (fields.size() < 10 || fields[3] != "0A") continue;
    uint64_t inode = 0;
    if (!absl::SimpleAtoi(fields[9], &inode) || inodes.count(inode) == 0) continue;
    const size_t colon = fields[1].rfind(':');
    if (colon == absl::string_view::npos) continue;
    const std::string hex(fields[1].substr(colon + 1));
    ports->insert(static_cast<int>(std::strtol(hex.c_str(), nullptr, 16)));
  }
}

}  // namespace

absl::StatusOr<std::vector<int>> ListeningTcpPorts(pid_t pid) {
  const std::string fd_dir = absl::StrCat("/proc/", pid, "/fd");
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(fd_dir.c_str()), closedir);
  if (dir == nullptr) {
    return absl::NotFoundError(absl::StrCat(fd_dir, ": ", std::strerror(errno)));
  }
  std::set<uint64_t> inodes;
  // Bounded by the process's open files.
  while (dirent* entry = readdir(dir.get())) {
    char link[256];
    const ssize_t length =
        readlink(absl::StrCat(fd_dir, "/", entry->d_name).c_str(), link, sizeof(link) - 1);
    uint64_t inode = 0;
    if (length > 0 && SocketInode(absl::string_view(link, static_cast<size_t>(length)), &inode)) {
      inodes.insert(inode);
    }
  }
  std::set<int> ports;
  AddListening(absl::StrCat("/proc/", pid, "/net/tcp"), inodes, &ports);
  AddListening(absl::StrCat("/proc/", pid, "/net/tcp6"), inodes, &ports);
  return std::vector<int>(ports.begin(), ports.end());
}

absl::StatusOr<std::string> HttpGetLoopback(int port, absl::string_view path,
                                            absl::Duration timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  std::unique_ptr<int, void (*)(int*)> closer(new int(fd), [](int* f) {
    close(*f);
    delete f;
  });
  timeval tv;
  tv.tv_sec = absl::ToInt64Seconds(timeout);
  tv.tv_usec = absl::ToInt64Microseconds(timeout) % 1000000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return absl::UnavailableError(
        absl::StrCat("connect 127.0.0.1:", port, ": ", std::strerror(errno)));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    sent += static_cast<size_t>(n);
  }
  std::string response;
  const absl::Time deadline = absl::Now() + timeout;
  // Bounded by the deadline and kMaxBodyBytes.
  for (;;) {
    char buffer[65536];
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n == 0) break;
    if (n < 0) return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(errno)));
    response.append(buffer, static_cast<size_t>(n));
    if (response.size() > kMaxBodyBytes || absl::Now() > deadline) {
      return absl::ResourceExhaustedError("the answer is too large or too slow");
    }
  }
  const size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) return absl::DataLossError("no end of the HTTP header");
  const absl::string_view status_line =
      absl::string_view(response).substr(0, response.find("\r\n"));
  if (!absl::StrContains(status_line, " 200")) {
    return absl::UnavailableError(absl::StrCat("GET ", path, ": ", status_line));
  }
  return response.substr(header_end + 4);
}

double SumSamples(absl::string_view exposition, absl::string_view metric) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (!absl::ConsumePrefix(&line, metric)) continue;
    if (absl::ConsumePrefix(&line, "{")) {
      const size_t close = line.rfind('}');
      if (close == absl::string_view::npos) continue;
      line.remove_prefix(close + 1);
    } else if (line.empty() || line[0] != ' ') {
      continue;  // another metric whose name starts with this one
    }
    line = absl::StripLeadingAsciiWhitespace(line);
    const absl::string_view value = line.substr(0, line.find(' '));  // a timestamp may follow
    double number = 0;
    if (absl::SimpleAtod(value, &number)) sum += number;
  }
  return sum;
}

}  // namespace blockstore
