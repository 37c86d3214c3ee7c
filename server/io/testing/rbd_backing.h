#ifndef BLOCKSTORE_SERVER_IO_TESTING_RBD_BACKING_H_
#define BLOCKSTORE_SERVER_IO_TESTING_RBD_BACKING_H_

#include <string>

#include "server/io/testing/fake_io_backend.h"

namespace blockstore {

// FakeIoBackend's real devices on a Ceph cluster (FakeIoBackend::BackingFactory): each device an
// RBD image of its own in pool `pool`, with its exclusive lock taken, behind an RbdBackend
// (librbd's cache off, as blockstored runs it). When a device goes its image is kept open for
// the next device of that size, zeroed first so that it reads as a new one; the images go with
// the test's cluster. CHECK-fails when the cluster refuses: the test cannot go on without its
// device.
FakeIoBackend::BackingFactory RbdBacking(const std::string& ceph_conf,
                                         const std::string& pool = "rbd");

// Requests submitted to such devices so far, by every factory of the process: proof that a run
// went through Ceph.
uint64_t RbdBackingRequests();

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_TESTING_RBD_BACKING_H_
