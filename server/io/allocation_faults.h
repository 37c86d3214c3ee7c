#ifndef BLOCKSTORE_SERVER_IO_ALLOCATION_FAULTS_H_
#define BLOCKSTORE_SERVER_IO_ALLOCATION_FAULTS_H_

namespace blockstore {

// Fault point for resource exhaustion in the write path (rules R13-R15 of
// docs/writeback-rules.md): the writeback asks MayAllocate() before it takes a Bio or an IoEnd
// from its pools, and a "no" takes the path the kernel takes when a bio or io_end allocation
// fails (the rest of the page is redirtied; integrity writeback retries it). Production never
// fails these allocations (a pass waits for a free bio instead) and passes no AllocationFaults:
// WritebackConfig::allocation_faults is nullptr. Tests pass FaultyIoBackend, whose
// FailAllocationsAt() says no for a window of calls.
//
// Why an interface of its own and not a method of IoBackend: taking a bio is the writeback's
// business, not the device's, so the device interface does not carry a test hook that every
// production backend answers "yes" and every wrapper must forward; the writeback is told
// explicitly where its faults come from. Why in server/io and not server/writeback:
// FaultyIoBackend (server/io/testing) implements it, so one test double still injects device
// faults and resource faults alike, and io does not depend on writeback.
//
// Implementations must be thread-safe: passes on any thread ask.
class AllocationFaults {
 public:
  virtual ~AllocationFaults() = default;

  // False: the allocation the writeback is about to make fails (ResourceExhausted, R13).
  virtual bool MayAllocate() = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_ALLOCATION_FAULTS_H_
