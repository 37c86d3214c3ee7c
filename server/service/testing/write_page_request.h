#ifndef BLOCKSTORE_SERVER_SERVICE_TESTING_WRITE_PAGE_REQUEST_H_
#define BLOCKSTORE_SERVER_SERVICE_TESTING_WRITE_PAGE_REQUEST_H_

// The WritePageRequest of tests that speak the protocol directly (testonly): the service's
// validation tests and the integration tests' raw streams. Clients go through client/.

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "blockstore/v1/blockstore.pb.h"

namespace blockstore {

// `data` at `offset_bytes` into page `page_index` of `volume`, answered under `request_id`
// (WritePages and WritePageBatches match answers by it). Nothing is checked: tests build bad
// requests on purpose.
inline v1::WritePageRequest TestWritePageRequest(absl::string_view volume, uint64_t page_index,
                                                 uint32_t offset_bytes, std::string data,
                                                 uint64_t request_id = 0, bool fua = false) {
  v1::WritePageRequest request;
  request.set_volume(std::string(volume));
  request.set_page_index(page_index);
  request.set_offset_bytes(offset_bytes);
  request.set_data(std::move(data));
  request.set_request_id(request_id);
  request.set_fua(fua);
  return request;
}

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_TESTING_WRITE_PAGE_REQUEST_H_
