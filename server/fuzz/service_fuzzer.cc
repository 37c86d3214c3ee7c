// Fuzz target: blockstore.v1.BlockStore through a real in-process gRPC server. Each input is a
// short sequence of calls of every kind (ServiceProgram: creates and deletes, unary writes,
// WritePages and WritePageBatches streams with odd batches and cancellations, reads, flushes
// with odd cursors; names, sizes, page indexes and offsets from the edges), sent one at a time
// to BlockServiceImpl over a VolumeRegistry on a temporary directory, both made once per
// process (ServiceHarness). ServiceDriver checks every answer against the .proto and a model
// of the volumes (see its header), and that the witness volume never changes.

#include <cstddef>
#include <cstdint>

#include "glog/logging.h"
#include "google/protobuf/stubs/logging.h"
#include "server/fuzz/fuzz_input.h"
#include "server/fuzz/service_driver.h"
#include "server/fuzz/service_harness.h"
#include "server/fuzz/service_program.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // The server logs every refused CreateVolume and DeleteVolume as a warning: thousands a
  // second here. Errors still reach stderr.
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = google::GLOG_ERROR;
  google::InitGoogleLogging((*argv)[0]);
  // protobuf logs an error for every volume name that is not UTF-8, on both sides; what such
  // a request gets is checked by the driver.
  google::protobuf::SetLogHandler(nullptr);
  blockstore::ServiceHarness::Get();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  blockstore::ServiceHarness& harness = blockstore::ServiceHarness::Get();
  blockstore::FuzzInput input(data, size);
  blockstore::ServiceProgram program(&input, &harness.model());
  blockstore::ServiceDriver driver(&harness);
  blockstore::Op op;
  while (program.Next(&op)) driver.Run(op);
  driver.EndInput();
  return 0;
}
