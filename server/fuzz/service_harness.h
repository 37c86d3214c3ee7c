#ifndef BLOCKSTORE_SERVER_FUZZ_SERVICE_HARNESS_H_
#define BLOCKSTORE_SERVER_FUZZ_SERVICE_HARNESS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "blockstore/v1/blockstore.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/fuzz/volume_model.h"
#include "server/io/io_backend.h"
#include "server/service/block_service.h"
#include "server/volume/volume_registry.h"

namespace blockstore {

// The server the service fuzzer talks to, made once per process and kept for every input:
// a VolumeRegistry on a new data directory under $TMPDIR (else /tmp), BlockServiceImpl on a
// gRPC server with no port, reached through the server's in-process channel, and the fixed
// volumes (fixed_volumes.h), the witness's bytes written and flushed. Volumes are thin
// (VolumeOptions::thin, blockstored's --thin), so an input that asks for a terabyte gets it
// and takes no disk space; the cache is small (32 MiB), so eviction happens.
//
// At exit it stops as blockstored does on SIGTERM (new writes refused, every volume flushed:
// CHECK-fails if that loses anything), then removes its directory.
//
// Not thread-safe: libFuzzer runs one input at a time.
class ServiceHarness {
 public:
  // Starts it on the first call. CHECK-fails if the server cannot start.
  static ServiceHarness& Get();

  v1::BlockStore::Stub* stub() { return stub_.get(); }
  VolumeModel& model() { return model_; }
  // The error cursor of each volume's last Flush summary.
  std::map<std::string, uint64_t>& flush_cursors() { return flush_cursors_; }
  // Inputs run so far, counted by the driver.
  uint64_t& inputs() { return inputs_; }
  // SERVICE_FUZZER_CHECK_EVERY=N (default 4): the driver reads the fixed volumes whole after
  // every Nth input; 1 when replaying an input that failed such a check.
  uint64_t check_every() const { return check_every_; }
  // SERVICE_FUZZER_TRACE=1: the driver logs every call and its answer to stderr.
  bool trace() const { return trace_; }

  // Waits (up to 20 s, else CHECK-fails: a call the client ended must end on the server too)
  // until the server has no call in flight. A write of a stream the client cancelled may
  // still be parked in the engine when the client's call has ended, and lands when it is let
  // in; once every call has ended on the server, every write has landed or been refused.
  void WaitForCallsToEnd();

  // Shuts the server down and removes the data directory. Get() registers it to run at exit.
  void Stop();

 private:
  ServiceHarness() = default;
  void Start();
  void CreateFixedVolumes();

  std::string data_dir_;
  std::unique_ptr<IoBackend> backend_;
  std::unique_ptr<VolumeRegistry> registry_;
  std::unique_ptr<BlockServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::BlockStore::Stub> stub_;
  VolumeModel model_;
  std::map<std::string, uint64_t> flush_cursors_;
  uint64_t inputs_ = 0;
  uint64_t check_every_ = 4;
  bool trace_ = false;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_FUZZ_SERVICE_HARNESS_H_
