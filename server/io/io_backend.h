#ifndef BLOCKSTORE_SERVER_IO_IO_BACKEND_H_
#define BLOCKSTORE_SERVER_IO_IO_BACKEND_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/io/io_request.h"

namespace blockstore {

// The only path to the device (kernel analogue: submit_bio + the block layer). Production uses
// UringBackend (io_uring, O_DIRECT) or SyncBackend (pwritev/fdatasync on a worker thread, when
// io_uring cannot start); tests use FakeIoBackend and FaultyIoBackend (server/io/testing/).
// Same role as leveldb's Env: the seam where faults are injected.
//
// Thread-safe: any thread may call Submit(). See IoRequest for the completion contract.
class IoBackend {
 public:
  virtual ~IoBackend() = default;

  // Queues `request`. Blocks only while the backend's bounded submission queue is full (never
  // when called from the backend's own completion thread). Returns Unavailable after Shutdown();
  // then Complete() will not be called.
  virtual absl::Status Submit(IoRequest* request) = 0;

  // Stops accepting requests, waits for those in flight to complete, and stops the completion
  // thread. Idempotent. The destructor calls it.
  virtual void Shutdown() = 0;

  // "uring", "sync", "fake", ...: for logs, metrics and GetVolumeInfo.
  virtual absl::string_view Name() const = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_IO_BACKEND_H_
