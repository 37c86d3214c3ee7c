#include "server/io/rbd_image.h"

#include <rbd/features.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "server/common/status_macros.h"

namespace blockstore {
namespace {

// Bounded retries of the "buffer too small" calls (rbd_list2, rbd_metadata_get): each -ERANGE
// says how much room the answer needs, so a second try fits unless the answer grew meanwhile.
constexpr int kRangeRetryMax = 8;

// Ceph reads durations from its configuration as seconds; fractions are allowed.
std::string Seconds(absl::Duration duration) {
  return absl::StrCat(absl::ToDoubleSeconds(duration));
}

// A failed cmpext says where the bytes differ as -MAX_ERRNO (Linux's, 4095) - offset.
constexpr int kMaxErrno = 4095;

// librbd's id object for image `name` (RBD_ID_PREFIX in its headers).
std::string IdObject(absl::string_view name) { return absl::StrCat("rbd_id.", name); }

// An image id as librbd stores it in an id object: a 32-bit little-endian length, then the bytes.
std::string EncodeImageId(absl::string_view id) {
  const uint32_t length = static_cast<uint32_t>(id.size());
  std::string encoded = {static_cast<char>(length & 0xff), static_cast<char>((length >> 8) & 0xff),
                         static_cast<char>((length >> 16) & 0xff),
                         static_cast<char>((length >> 24) & 0xff)};
  encoded.append(id.data(), id.size());
  return encoded;
}

absl::Status CheckName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("an RBD image name must not be empty");
  return absl::OkStatus();
}

}  // namespace

absl::Status RbdErrorToStatus(int ret, absl::string_view what) {
  DCHECK_LT(ret, 0);
  const int err = -ret;
  const std::string message = absl::StrCat(what, ": ", std::strerror(err), " (errno ", err, ")");
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EBUSY:
    case EROFS:
      return absl::FailedPreconditionError(message);
    case ESHUTDOWN:  // Ceph's EBLOCKLISTED.
      return absl::FailedPreconditionError(absl::StrCat(message, "; this client is blocklisted"));
    case ETIMEDOUT:
    case ENOTCONN:
    case ECONNREFUSED:
    case EHOSTUNREACH:
      return absl::UnavailableError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::Status(absl::ErrnoToStatusCode(err), message);
  }
}

absl::StatusOr<std::shared_ptr<RbdPool>> RbdPool::Connect(const RbdPoolOptions& options) {
  std::shared_ptr<RbdPool> pool(new RbdPool(options));
  RETURN_IF_ERROR(pool->Init());
  return pool;
}

std::string RbdPool::Describe() const {
  return absl::StrCat("client.", options_.client_id, ", pool ", options_.pool);
}

absl::Status RbdPool::Init() {
  const std::string client = absl::StrCat("client.", options_.client_id);
  int ret = rados_create2(&cluster_, "ceph", client.c_str(), 0);
  if (ret < 0) {
    cluster_ = nullptr;
    return RbdErrorToStatus(ret, absl::StrCat("rados_create2 as ", client));
  }
  const char* conf = options_.ceph_conf.empty() ? nullptr : options_.ceph_conf.c_str();
  ret = rados_conf_read_file(cluster_, conf);
  if (ret < 0) {
    return RbdErrorToStatus(
        ret, absl::StrCat("reading the Ceph configuration ",
                          conf != nullptr ? conf : "($CEPH_CONF or /etc/ceph/ceph.conf)"));
  }
  const std::pair<const char*, std::string> settings[] = {
      // blockstore's page cache is the cache; see the class comment.
      {"rbd_cache", "false"},
      // librbd copies a write's bytes inside rbd_aio_writev (RbdBackend tells the writeback so
      // it need not hold the page until the OSD answers). Ceph 16's default; said here
      // because the engine relies on it.
      {"rbd_disable_zero_copy_writes", "true"},
      {"rados_osd_op_timeout", Seconds(options_.op_timeout)},
      {"rados_mon_op_timeout", Seconds(options_.op_timeout)},
      {"client_mount_timeout", Seconds(options_.connect_timeout)},
  };
  for (const auto& [option, value] : settings) {
    ret = rados_conf_set(cluster_, option, value.c_str());
    if (ret < 0) {
      return RbdErrorToStatus(ret, absl::StrCat("setting Ceph option ", option, "=", value));
    }
  }
  ret = rados_connect(cluster_);
  if (ret < 0) {
    return RbdErrorToStatus(ret, absl::StrCat("connecting to Ceph as ", client, " (configuration ",
                                              conf != nullptr ? conf : "from $CEPH_CONF", ")"));
  }
  ret = rados_ioctx_create(cluster_, options_.pool.c_str(), &ioctx_);
  if (ret < 0) {
    ioctx_ = nullptr;
    return RbdErrorToStatus(ret, absl::StrCat("opening Ceph pool ", options_.pool));
  }
  // Without this, librados holds a write to a full pool until it has room: a full cluster would
  // hang every flush. With it the OSD answers ENOSPC or EDQUOT (librados.h, FULL_TRY); librbd
  // gives its image I/O the flag of the context the image was opened with.
  rados_set_pool_full_try(ioctx_);
  return absl::OkStatus();
}

RbdPool::~RbdPool() {
  if (ioctx_ != nullptr) rados_ioctx_destroy(ioctx_);
  if (cluster_ != nullptr) rados_shutdown(cluster_);
}

absl::Status RbdPool::CreateImage(absl::string_view name, uint64_t size_bytes) {
  RETURN_IF_ERROR(CheckName(name));
  const std::string image(name);
  rbd_image_options_t opts;
  rbd_image_options_create(&opts);
  int ret =
      rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_FEATURES, RBD_FEATURE_EXCLUSIVE_LOCK);
  if (ret == 0) ret = rbd_create4(ioctx_, image.c_str(), size_bytes, opts);
  rbd_image_options_destroy(opts);
  if (ret < 0) {
    return RbdErrorToStatus(ret, absl::StrCat("creating RBD image ", image, " of ", size_bytes,
                                              " bytes (", Describe(), ")"));
  }
  return absl::OkStatus();
}

absl::Status RbdPool::RemoveImage(absl::string_view name) {
  RETURN_IF_ERROR(CheckName(name));
  const std::string image(name);
  const int ret = rbd_remove(ioctx_, image.c_str());
  if (ret < 0) {
    return RbdErrorToStatus(
        ret, absl::StrCat("removing RBD image ", image, " (", Describe(), ")",
                          ret == -EBUSY ? "; it is open, or still watched, elsewhere" : ""));
  }
  return absl::OkStatus();
}

absl::Status RbdPool::RenameImage(absl::string_view from, absl::string_view to, RbdImage* open) {
  RETURN_IF_ERROR(CheckName(from));
  RETURN_IF_ERROR(CheckName(to));
  const std::string source(from);
  const std::string target(to);
  const int ret = rbd_rename(ioctx_, source.c_str(), target.c_str());
  if (ret < 0) {
    return RbdErrorToStatus(
        ret, absl::StrCat("renaming RBD image ", source, " to ", target, " (", Describe(), ")"));
  }
  if (open != nullptr) {
    absl::MutexLock lock(&open->name_mu_);
    open->name_ = target;
  }
  return absl::OkStatus();
}

absl::Status RbdPool::RemoveStrayImageId(absl::string_view name) {
  RETURN_IF_ERROR(CheckName(name));
  const std::string object = IdObject(name);
  const int ret = rados_remove(ioctx_, object.c_str());
  if (ret < 0 && ret != -ENOENT) {
    return RbdErrorToStatus(ret,
                            absl::StrCat("removing RADOS object ", object, " (", Describe(), ")"));
  }
  return absl::OkStatus();
}

absl::Status RbdPool::RemoveImageIdIf(absl::string_view name, absl::string_view id) {
  RETURN_IF_ERROR(CheckName(name));
  const std::string object = IdObject(name);
  const std::string expected = EncodeImageId(id);
  // One op: the OSD removes the object only if it still holds these bytes.
  rados_write_op_t op = rados_create_write_op();
  rados_write_op_assert_exists(op);  // else cmpext compares a missing object's zeros
  int compared = 0;
  rados_write_op_cmpext(op, expected.data(), expected.size(), 0, &compared);
  rados_write_op_remove(op);
  const int ret = rados_write_op_operate(op, ioctx_, object.c_str(), nullptr, 0);
  rados_release_write_op(op);
  if (ret == 0 || ret == -ENOENT) return absl::OkStatus();
  if (ret <= -kMaxErrno || compared <= -kMaxErrno) {
    return absl::UnavailableError(
        absl::StrCat("RADOS object ", object, " (", Describe(), ") changed meanwhile; retry"));
  }
  return RbdErrorToStatus(ret,
                          absl::StrCat("removing RADOS object ", object, " (", Describe(), ")"));
}

absl::StatusOr<std::string> RbdPool::ResolveImageId(absl::string_view name) {
  RETURN_IF_ERROR(CheckName(name));
  const std::string object = IdObject(name);
  // EncodeImageId's form. Ids are a dozen or so hex digits; an object that fills the buffer
  // (longer than any id of 256) is not one librbd wrote.
  char encoded[4 + 256 + 1];
  const int length = rados_read(ioctx_, object.c_str(), encoded, sizeof(encoded), 0);
  if (length < 0) {
    return RbdErrorToStatus(length,
                            absl::StrCat("reading RADOS object ", object, " (", Describe(), ")"));
  }
  uint32_t id_length = 0;
  if (length >= 4) {
    id_length = static_cast<uint32_t>(static_cast<unsigned char>(encoded[0])) |
                static_cast<uint32_t>(static_cast<unsigned char>(encoded[1])) << 8 |
                static_cast<uint32_t>(static_cast<unsigned char>(encoded[2])) << 16 |
                static_cast<uint32_t>(static_cast<unsigned char>(encoded[3])) << 24;
  }
  if (length < 4 || length == static_cast<int>(sizeof(encoded)) || id_length == 0 ||
      id_length != static_cast<uint32_t>(length) - 4) {
    return absl::FailedPreconditionError(
        absl::StrCat("RADOS object ", object, " (", Describe(), ") is not an image id as librbd ",
                     "writes one (", length, " bytes); not blockstore's to remove"));
  }
  return std::string(encoded + 4, id_length);
}

absl::StatusOr<std::vector<std::string>> RbdPool::ListImages() {
  ASSIGN_OR_RETURN(std::vector<ListedImage> listed, ListImagesWithIds());
  std::vector<std::string> names;
  names.reserve(listed.size());
  for (ListedImage& image : listed) names.push_back(std::move(image.name));
  return names;
}

absl::StatusOr<std::vector<RbdPool::ListedImage>> RbdPool::ListImagesWithIds() {
  std::vector<rbd_image_spec_t> specs(16);
  for (int attempt = 0; attempt < kRangeRetryMax; ++attempt) {
    size_t count = specs.size();
    const int ret = rbd_list2(ioctx_, specs.data(), &count);
    if (ret == -ERANGE) {
      specs.resize(std::max(count, 2 * specs.size()));
      continue;
    }
    if (ret < 0) {
      return RbdErrorToStatus(ret, absl::StrCat("listing RBD images (", Describe(), ")"));
    }
    std::vector<ListedImage> listed;
    listed.reserve(count);
    for (size_t i = 0; i < count; ++i) listed.push_back({specs[i].name, specs[i].id});
    rbd_image_spec_list_cleanup(specs.data(), count);
    std::sort(listed.begin(), listed.end(),
              [](const ListedImage& a, const ListedImage& b) { return a.name < b.name; });
    return listed;
  }
  return absl::UnavailableError(absl::StrCat("listing RBD images (", Describe(), "): the list ",
                                             "kept growing over ", kRangeRetryMax, " attempts"));
}

absl::StatusOr<std::unique_ptr<RbdImage>> RbdPool::OpenImage(absl::string_view name) {
  RETURN_IF_ERROR(CheckName(name));
  std::string image_name(name);
  rbd_image_t image;
  const int ret = rbd_open(ioctx_, image_name.c_str(), &image, /*snap_name=*/nullptr);
  if (ret < 0) {
    return RbdErrorToStatus(ret,
                            absl::StrCat("opening RBD image ", image_name, " (", Describe(), ")"));
  }
  return std::unique_ptr<RbdImage>(new RbdImage(shared_from_this(), std::move(image_name), image));
}

absl::StatusOr<std::string> RbdPool::ClientAddress() {
  char* addrs = nullptr;
  const int ret = rados_getaddrs(cluster_, &addrs);
  if (ret < 0) return RbdErrorToStatus(ret, absl::StrCat("rados_getaddrs (", Describe(), ")"));
  std::string address(addrs);
  rados_buffer_free(addrs);
  return address;
}

absl::Status RbdPool::BlocklistClient(absl::string_view address, absl::Duration expire) {
  std::string client(address);
  const auto seconds = static_cast<uint32_t>(std::ceil(absl::ToDoubleSeconds(expire)));
  int ret = rados_blocklist_add(cluster_, client.data(), seconds);
  if (ret < 0) {
    return RbdErrorToStatus(ret, absl::StrCat("blocklisting Ceph client ", client));
  }
  // An OSD refuses the fenced client only once it has the OSD map with the entry. Ops carry
  // the sender's map epoch and an OSD catches up to it before running them, so with the newest
  // map our own later ops (breaking the dead owner's lock, writing) are ordered after the fence.
  ret = rados_wait_for_latest_osdmap(cluster_);
  if (ret < 0) {
    return RbdErrorToStatus(
        ret, absl::StrCat("waiting for the OSD map that blocklists Ceph client ", client));
  }
  return absl::OkStatus();
}

std::string RbdImage::name() const {
  absl::MutexLock lock(&name_mu_);
  return name_;
}

RbdImage::~RbdImage() {
  const int ret = rbd_close(image_);
  LOG_IF(WARNING, ret < 0) << RbdErrorToStatus(ret, absl::StrCat("closing RBD image ", name()));
}

absl::StatusOr<uint64_t> RbdImage::SizeBytes() {
  uint64_t size = 0;
  const int ret = rbd_get_size(image_, &size);
  if (ret < 0) return RbdErrorToStatus(ret, absl::StrCat("size of RBD image ", name()));
  return size;
}

absl::StatusOr<std::string> RbdImage::GetMetadata(absl::string_view key) {
  const std::string key_string(key);
  std::string value(64, '\0');
  for (int attempt = 0; attempt < kRangeRetryMax; ++attempt) {
    size_t len = value.size();
    const int ret = rbd_metadata_get(image_, key_string.c_str(), value.data(), &len);
    if (ret == -ERANGE) {
      value.resize(std::max(len, 2 * value.size()));
      continue;
    }
    if (ret < 0) {
      return RbdErrorToStatus(
          ret, absl::StrCat("reading metadata key ", key_string, " of RBD image ", name()));
    }
    // librbd sets len only with -ERANGE; on success the value ends at the NUL it copied.
    value.resize(std::strlen(value.c_str()));
    return value;
  }
  return absl::UnavailableError(absl::StrCat("reading metadata key ", key_string, " of RBD image ",
                                             name(), ": the value kept growing"));
}

absl::Status RbdImage::SetMetadata(absl::string_view key, absl::string_view value) {
  if (key.find('\0') != absl::string_view::npos || value.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata of RBD image ", name(), ": keys and values are C strings (no NUL)"));
  }
  const std::string key_string(key);
  const std::string value_string(value);
  const int ret = rbd_metadata_set(image_, key_string.c_str(), value_string.c_str());
  if (ret < 0) {
    return RbdErrorToStatus(
        ret, absl::StrCat("setting metadata key ", key_string, " of RBD image ", name()));
  }
  return absl::OkStatus();
}

absl::Status RbdImage::AcquireExclusiveLock() {
  const int ret = rbd_lock_acquire(image_, RBD_LOCK_MODE_EXCLUSIVE);
  if (ret < 0) {
    return RbdErrorToStatus(ret, absl::StrCat("taking the exclusive lock of RBD image ", name()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> RbdImage::LockOwners() {
  rbd_lock_mode_t mode;
  // A lock has one exclusive owner; a few more slots cover shared locks of other tools.
  constexpr size_t kMaxOwners = 8;
  char* owners[kMaxOwners];
  size_t count = kMaxOwners;
  const int ret = rbd_lock_get_owners(image_, &mode, owners, &count);
  if (ret == -ENOENT) return std::vector<std::string>();
  if (ret < 0) {
    return RbdErrorToStatus(ret, absl::StrCat("listing the lock owners of RBD image ", name()));
  }
  std::vector<std::string> result(owners, owners + count);
  rbd_lock_get_owners_cleanup(owners, count);
  return result;
}

absl::Status RbdImage::RemoveMetadata(absl::string_view key) {
  const std::string key_string(key);
  const int ret = rbd_metadata_remove(image_, key_string.c_str());
  if (ret < 0 && ret != -ENOENT) {
    return RbdErrorToStatus(
        ret, absl::StrCat("removing metadata key ", key_string, " of RBD image ", name()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> RbdImage::Watchers() {
  // A few watchers at most: the owner, and servers or tools that opened the image a moment.
  constexpr size_t kMaxWatchers = 64;
  std::vector<rbd_image_watcher_t> watchers(kMaxWatchers);
  size_t count = watchers.size();
  const int ret = rbd_watchers_list(image_, watchers.data(), &count);
  if (ret < 0) {
    return RbdErrorToStatus(ret, absl::StrCat("listing the watchers of RBD image ", name()));
  }
  std::vector<std::string> addresses;
  for (size_t i = 0; i < count; ++i) addresses.emplace_back(watchers[i].addr);
  rbd_watchers_list_cleanup(watchers.data(), count);
  return addresses;
}

absl::Status RbdImage::BreakLock(const std::string& owner) {
  const int ret = rbd_lock_break(image_, RBD_LOCK_MODE_EXCLUSIVE, owner.c_str());
  if (ret < 0 && ret != -ENOENT) {
    return RbdErrorToStatus(ret, absl::StrCat("breaking ", owner, "'s lock of RBD image ", name()));
  }
  return absl::OkStatus();
}

}  // namespace blockstore
