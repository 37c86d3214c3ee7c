#ifndef BLOCKSTORE_SERVER_IO_TESTING_BLOCK_IO_URING_H_
#define BLOCKSTORE_SERVER_IO_TESTING_BLOCK_IO_URING_H_

#include "absl/status/status.h"

namespace blockstore {

// Installs a seccomp filter on every thread of this process that makes io_uring_setup fail with
// EPERM, as container runtimes' default profiles do. Irreversible: call it only in a child
// process, such as the body of a gtest death test (EXPECT_EXIT). Unimplemented on an
// architecture it does not know; the prctl/seccomp error otherwise.
absl::Status BlockIoUringSetupInThisProcess();

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_TESTING_BLOCK_IO_URING_H_
