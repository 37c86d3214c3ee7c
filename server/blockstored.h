#ifndef BLOCKSTORE_SERVER_BLOCKSTORED_H_
#define BLOCKSTORE_SERVER_BLOCKSTORED_H_

#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "server/service/block_server.h"
#include "server/service/server_options.h"

namespace blockstore {

// blockstored's flags and its life from start to exit, shared by the production binary
// (server/main.cc) and the test build with device faults (server/integration's
// faulty_blockstored), so both take exactly the same flags. The flags are defined in
// blockstored.cc; its --help section is "Flags from server/blockstored.cc".

// The file whose flags --help lists (absl would look for a file named after the binary).
constexpr char kBlockstoredFlagsFile[] = "server/blockstored.cc";

// The ServerOptions the parsed flags say.
ServerOptions ServerOptionsFromFlags();

// Serves `options` until SIGTERM or SIGINT, then shuts down within --shutdown_grace. Prints
// `blockstored listening on ADDRESS` (and the metrics address) once it serves. Returns the
// exit code: 0 when nothing was lost, 1 when a volume could not be written completely, 2 when
// the server cannot start. `wrap_io_backend` is BlockServer::Start's seam (empty in
// production); `program` names the binary in messages; `after_shutdown` (optional) runs once
// the shutdown flush is over, while the server and its backend still exist. Call it before any
// thread starts: it blocks the signals for every thread it creates.
int ServeUntilSignal(const ServerOptions& options,
                     const BlockServer::IoBackendWrapper& wrap_io_backend,
                     absl::string_view program,
                     const std::function<void()>& after_shutdown = nullptr);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_BLOCKSTORED_H_
