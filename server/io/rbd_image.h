#ifndef BLOCKSTORE_SERVER_IO_RBD_IMAGE_H_
#define BLOCKSTORE_SERVER_IO_RBD_IMAGE_H_

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace blockstore {

// Maps a negative librados/librbd return code to a Status whose message is
// "<what>: <strerror> (errno N)". The codes follow what the errno means in Ceph:
//   ENOENT    kNotFound            no such image, pool or metadata key
//   EEXIST    kAlreadyExists       the image exists
//   EBUSY     kFailedPrecondition  the image is open somewhere (remove), or its lock is held
//   ESHUTDOWN kFailedPrecondition  this client is blocklisted (Ceph's EBLOCKLISTED is ESHUTDOWN,
//                                  108 on Linux): it must never write again; only a new client
//                                  instance, after whoever fenced it allows, may
//   EROFS     kFailedPrecondition  the image's exclusive lock belongs to another client
//   ETIMEDOUT kUnavailable         no answer from the monitors or OSDs within the op timeout
//                                  (the cluster is lost or partitioned away)
//   ENOTCONN, ECONNREFUSED, EHOSTUNREACH  kUnavailable
//   ENOSPC    kResourceExhausted   the cluster (an OSD) is full
//   EDQUOT    kResourceExhausted   the pool's quota is reached
//   anything else: absl::ErrnoToStatus's code (EINVAL kInvalidArgument, EIO kUnknown...).
// REQUIRES: ret < 0.
absl::Status RbdErrorToStatus(int ret, absl::string_view what);

struct RbdPoolOptions {
  // ceph.conf to read; empty: $CEPH_CONF, then Ceph's own search path (/etc/ceph/ceph.conf...).
  std::string ceph_conf;
  // The client's id: "admin" connects as client.admin.
  std::string client_id = "admin";
  std::string pool = "rbd";
  // How long an operation waits for the monitors (rados_mon_op_timeout) and for an OSD
  // (rados_osd_op_timeout) before it fails with -ETIMEDOUT. Ceph's default, zero, waits for ever:
  // a lost cluster would then hang every write and flush instead of failing them. A timed-out
  // write may still have reached the OSD; the caller treats it as failed, never as durable.
  absl::Duration op_timeout = absl::Seconds(30);
  // How long Connect() waits for the monitors (client_mount_timeout; Ceph's default is 300 s).
  absl::Duration connect_timeout = absl::Seconds(30);
};

class RbdImage;

// A connection to a Ceph cluster (librados) with an I/O context on one pool: creates, lists,
// removes and opens the RBD images in that pool. librbd's cache is turned off on the connection
// (rbd_cache = false) so that blockstore's page cache is the only cache above the OSDs: a write
// librbd acknowledges is then on the OSDs, and a flush means what the caller's Flush means.
// Writes to a full pool fail with -ENOSPC or -EDQUOT (the I/O context is "full try") rather than
// waiting, as librados otherwise does, until the pool has room.
// Thread-safe. Open images keep the pool (and the connection) alive.
class RbdPool : public std::enable_shared_from_this<RbdPool> {
 public:
  // Connects; the message of a failure names the client, the configuration and the pool.
  static absl::StatusOr<std::shared_ptr<RbdPool>> Connect(const RbdPoolOptions& options);
  ~RbdPool();

  RbdPool(const RbdPool&) = delete;
  RbdPool& operator=(const RbdPool&) = delete;

  // Creates image `name` of `size_bytes` with only the exclusive-lock feature: layering,
  // object-map, fast-diff and deep-flatten (the defaults) serve clones and snapshots, which
  // blockstore does not make, and cost metadata updates on writes. AlreadyExists if it exists.
  absl::Status CreateImage(absl::string_view name, uint64_t size_bytes);
  // NotFound if there is no such image; FailedPrecondition while a client has it open.
  absl::Status RemoveImage(absl::string_view name);
  // Renames image `from` to `to` (one update of the pool's image directory: the image is seen
  // under one name or the other). AlreadyExists if `to` exists; NotFound if `from` does not.
  // An image open here stays open, usable and locked as it was (librbd addresses it by id);
  // pass it as `open` to have its name() follow.
  absl::Status RenameImage(absl::string_view from, absl::string_view to, RbdImage* open = nullptr);
  // Removes `name`'s id object (`rbd_id.<name>`) alone, whatever it holds. librbd renames by
  // writing the new name's id object, updating the directory, then removing the old name's; a
  // rename killed before the directory update leaves the new name's: the name is in no listing,
  // yet creating or renaming to it fails AlreadyExists. Only for a name the directory does not
  // list (the caller checked) and to which no rename can be under way. (What a rename cut after
  // its directory update leaves, the old name's, goes through RemoveImageIdIf.) OK if there is
  // no such object.
  absl::Status RemoveStrayImageId(absl::string_view name);
  // Removes `name`'s id object only if it still names image `id` (compared and removed in one
  // RADOS op). OK if it is gone; Unavailable if it now names another image.
  absl::Status RemoveImageIdIf(absl::string_view name, absl::string_view id);
  // The image id `name` resolves to, from its id object (`rbd_id.<name>`), as librbd resolves
  // a name to open or remove an image. NotFound if there is no id object; FailedPrecondition if
  // the object is not one librbd wrote.
  absl::StatusOr<std::string> ResolveImageId(absl::string_view name);
  // The names of the pool's images, sorted.
  absl::StatusOr<std::vector<std::string>> ListImages();
  // The pool's images with their ids, sorted by name: the image directory as it is.
  struct ListedImage {
    std::string name;
    std::string id;
  };
  absl::StatusOr<std::vector<ListedImage>> ListImagesWithIds();
  // Opens image `name`; NotFound if there is none.
  absl::StatusOr<std::unique_ptr<RbdImage>> OpenImage(absl::string_view name);

  const std::string& pool_name() const { return options_.pool; }
  // This client's address as the monitors see it ("127.0.0.1:0/3712498372"): what a blocklist
  // entry names to fence it.
  absl::StatusOr<std::string> ClientAddress();
  // Blocklists `address` (another client's ClientAddress()) for `expire` (rounded up to whole
  // seconds; zero: Ceph's default, one hour), and waits until this client has the OSD map that
  // says so: from then on this client's ops reach each OSD after the fence. The fenced client's
  // own writes fail with -ESHUTDOWN once an OSD has that map; an OSD it talks to that has not
  // yet seen it may still accept one. Fencing for failover, and tests.
  absl::Status BlocklistClient(absl::string_view address, absl::Duration expire);

 private:
  explicit RbdPool(const RbdPoolOptions& options) : options_(options) {}
  absl::Status Init();
  std::string Describe() const;  // "client.admin, pool rbd"

  const RbdPoolOptions options_;
  rados_t cluster_ = nullptr;  // Set by Init(); shut down by the destructor.
  rados_ioctx_t ioctx_ = nullptr;
};

// One open RBD image: its handle (for RbdBackend), size and metadata. The image's metadata is a
// string map kept with the image, so any client that opens the image reads it.
// Thread-safe (librbd's image handle is). Closing it (the destructor) waits for librbd's own
// requests on the image; the caller must have completed its IO first (RbdBackend::Shutdown).
class RbdImage {
 public:
  ~RbdImage();

  RbdImage(const RbdImage&) = delete;
  RbdImage& operator=(const RbdImage&) = delete;

  std::string name() const ABSL_LOCKS_EXCLUDED(name_mu_);
  absl::StatusOr<uint64_t> SizeBytes();

  // NotFound if the image has no such key.
  absl::StatusOr<std::string> GetMetadata(absl::string_view key);
  // Sets `key` to `value`. Metadata is changed under the image's exclusive lock: when another
  // client holds it, librbd asks that client to make the change.
  absl::Status SetMetadata(absl::string_view key, absl::string_view value);

  // Removes `key`; OK if it was not there.
  absl::Status RemoveMetadata(absl::string_view key);

  // Takes the image's exclusive lock for this client and keeps it until the image is closed:
  // another client's writes then fail (-EROFS) instead of taking the lock over, as librbd's
  // cooperative exclusive-lock would let them. FailedPrecondition when another client holds it.
  absl::Status AcquireExclusiveLock();
  // The clients holding the image's lock (Ceph client addresses), for messages and fencing;
  // empty when nobody does.
  absl::StatusOr<std::vector<std::string>> LockOwners();
  // The clients watching the image (Ceph client addresses): every client with the image open.
  // A watch ends when its client closes the image, or osd_client_watch_timeout after the client
  // stopped answering (it died, or lost the cluster): a lock holder that no longer watches is
  // gone.
  absl::StatusOr<std::vector<std::string>> Watchers();
  // Breaks `owner`'s exclusive lock. Only after fencing it (RbdPool::BlocklistClient): a client
  // that was only partitioned away would otherwise write again.
  absl::Status BreakLock(const std::string& owner);

  // librbd's handle, for RbdBackend. Valid while this object lives.
  rbd_image_t handle() const { return image_; }

 private:
  friend class RbdPool;
  RbdImage(std::shared_ptr<RbdPool> pool, std::string name, rbd_image_t image)
      : pool_(std::move(pool)), name_(std::move(name)), image_(image) {}

  std::shared_ptr<RbdPool> pool_;  // Outlives image_.
  mutable absl::Mutex name_mu_;
  std::string name_ ABSL_GUARDED_BY(name_mu_);  // changed by RbdPool::RenameImage
  rbd_image_t image_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_RBD_IMAGE_H_
