#ifndef BLOCKSTORE_SERVER_FUZZ_SERVICE_DRIVER_H_
#define BLOCKSTORE_SERVER_FUZZ_SERVICE_DRIVER_H_

#include <string>

#include "server/fuzz/service_harness.h"
#include "server/fuzz/service_program.h"

namespace blockstore {

// Makes the calls of one input through the harness's stub, one at a time (a stream's requests
// written from a second thread while the first reads its answers), and checks each against
// the .proto and the VolumeModel, CHECK-failing (an abort that libFuzzer reports, keeping the
// input) on the first violation:
// - every call ends with a code from the .proto's list for it, and within the codes the
//   request's broken rules predict (OK when it breaks none); codes of the environment (a full
//   disk, the dirty limit) are allowed where the .proto lists them; DEADLINE_EXCEEDED (20 s)
//   is a hang;
// - streams: each write answered at most once, all of them if the call ended OK, with its own
//   page_index; ReadPages sends pages in order and none for a refused request; a Flush sends
//   its summary last, with the call's code, and reports each page once;
// - reads return what the model holds (zeros where nothing was written or past the end);
//   ListVolumes and GetVolumeInfo say what the model says;
// - the witness never changes, never holds a dirty page.
//
// Not thread-safe; one driver per input.
class ServiceDriver {
 public:
  explicit ServiceDriver(ServiceHarness* harness);

  void Run(const Op& op);
  // After the input's last call: deletes the volumes it created, settles the fixed volumes'
  // unknown blocks (once the server has no call in flight: read, adopt), and checks the
  // witness (after any input that named it) and, every ServiceHarness::check_every() inputs,
  // the witness, a and b in full.
  void EndInput();

 private:
  void CreateVolume(const v1::CreateVolumeRequest& request);
  void DeleteVolume(const std::string& name);
  void ListVolumes();
  void GetVolumeInfo(const std::string& name);
  void WritePage(const v1::WritePageRequest& request);
  void WritePages(const std::vector<v1::WritePageRequest>& writes, int cancel_after);
  void WritePageBatches(const std::vector<v1::WritePageBatchRequest>& batches, int cancel_after);
  void ReadPage(const v1::ReadPageRequest& request);
  void ReadPages(const v1::ReadPagesRequest& request);
  void Flush(v1::FlushRequest request, CursorChoice cursor);
  // Reads every page of `name` (at most 64) and compares each with the model.
  void CheckWholeVolume(const std::string& name);
  // Reads the witness and compares it with the bytes it was given (WitnessByte).
  void CheckWitness();
  // A read of `page` differed from the model (`wrong` says how): reads it again, and again
  // after a flush, and CHECK-fails with all of it.
  void ReportWrongPage(const char* method, const std::string& volume, uint64_t page,
                       const std::string& wrong);
  void Note(const std::string& name);

  ServiceHarness* const harness_;
  bool named_witness_ = false;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_FUZZ_SERVICE_DRIVER_H_
