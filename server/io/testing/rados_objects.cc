#include "server/io/testing/rados_objects.h"

#include <rados/librados.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"

namespace blockstore {
namespace {

// Runs `use` with an I/O context on `options`' pool, connected and torn down here.
absl::Status WithPool(const RbdPoolOptions& options, const std::function<int(rados_ioctx_t)>& use) {
  rados_t cluster = nullptr;
  if (const int ret = rados_create(&cluster, options.client_id.c_str()); ret < 0) {
    return RbdErrorToStatus(ret, "rados_create");
  }
  std::unique_ptr<rados_t, void (*)(rados_t*)> shut(&cluster,
                                                    [](rados_t* c) { rados_shutdown(*c); });
  if (const int ret = rados_conf_read_file(cluster, options.ceph_conf.c_str()); ret < 0) {
    return RbdErrorToStatus(ret, absl::StrCat("reading ", options.ceph_conf));
  }
  if (const int ret = rados_connect(cluster); ret < 0) {
    return RbdErrorToStatus(ret, "rados_connect");
  }
  rados_ioctx_t io = nullptr;
  if (const int ret = rados_ioctx_create(cluster, options.pool.c_str(), &io); ret < 0) {
    return RbdErrorToStatus(ret, absl::StrCat("opening pool ", options.pool));
  }
  const int ret = use(io);
  rados_ioctx_destroy(io);
  return ret < 0 ? RbdErrorToStatus(ret, "RADOS object op") : absl::OkStatus();
}

}  // namespace

absl::Status WriteRadosObject(const RbdPoolOptions& options, const std::string& object,
                              absl::string_view bytes) {
  return WithPool(options, [&](rados_ioctx_t io) {
    return rados_write_full(io, object.c_str(), bytes.data(), bytes.size());
  });
}

absl::StatusOr<std::string> ReadRadosObject(const RbdPoolOptions& options,
                                            const std::string& object) {
  std::string bytes(4096, '\0');
  int length = 0;
  absl::Status status = WithPool(options, [&](rados_ioctx_t io) {
    length = rados_read(io, object.c_str(), bytes.data(), bytes.size(), 0);
    return length;
  });
  if (!status.ok()) return status;
  bytes.resize(static_cast<size_t>(length));
  return bytes;
}

std::string EncodedImageId(absl::string_view id) {
  const uint32_t length = static_cast<uint32_t>(id.size());
  std::string encoded = {static_cast<char>(length & 0xff), static_cast<char>((length >> 8) & 0xff),
                         static_cast<char>((length >> 16) & 0xff),
                         static_cast<char>((length >> 24) & 0xff)};
  encoded.append(id.data(), id.size());
  return encoded;
}

}  // namespace blockstore
