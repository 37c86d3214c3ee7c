#ifndef BLOCKSTORE_SERVER_SERVICE_GRPC_STATUS_H_
#define BLOCKSTORE_SERVER_SERVICE_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace blockstore {

// The one boundary where the server's absl::Status becomes a gRPC status. absl and gRPC codes
// are numerically equal (both are google.rpc.Code), so the code carries over unchanged and the
// message is kept as it is.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_GRPC_STATUS_H_
