#ifndef BLOCKSTORE_CLIENT_BLOCK_CLIENT_H_
#define BLOCKSTORE_CLIENT_BLOCK_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "blockstore/v1/blockstore.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace blockstore {

// The client side of the one status boundary: gRPC codes and absl codes are numerically equal.
absl::Status FromGrpcStatus(const grpc::Status& status);

struct ClientOptions {
  // Deadline of each unary call and of each ReadPages/Flush stream; InfiniteDuration for none.
  absl::Duration timeout = absl::Seconds(60);
  // How long a call of a Client made by OpenForVolume keeps asking where its volume is served,
  // after its server could not be reached (UNAVAILABLE, or CANCELLED by a server shutting
  // down), before it reports that error (see Client, "Following a volume"). A failover of a
  // volume in Ceph completes Ceph's osd_client_watch_timeout (30 s by default) after the dead
  // server's last ping, plus about a second to fence it (docs/scale-out.md), so 40 s rides out
  // a failover on Ceph's defaults.
  // Zero: ask once and never wait.
  absl::Duration failover_timeout = absl::Seconds(40);
  // TLS (docs/security.md): on when tls_ca_file or tls_cert_file is set, plaintext otherwise.
  // PEM CA bundle that the server's certificate must chain to (empty: the system's roots).
  std::string tls_ca_file;
  // PEM client certificate chain and its key, for a server that requires mutual TLS: both or
  // neither.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The name the server's certificate must carry, when it is not the target's host (dialing
  // an IP address or a tunnel); needs TLS.
  std::string tls_server_name;
  // A file holding a bearer token (docs/security.md), sent with every call as
  // `authorization: Bearer <token>`. Needs TLS, unless the target is on loopback or a unix
  // socket: a token must not cross a network in the clear.
  std::string token_file;
};

// The token in `path` (surrounding whitespace removed), or InvalidArgument naming
// "token_file" for a file that cannot be read, is empty, or holds characters a header cannot
// carry. The message never contains the file's contents.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// Whether `options` asks for TLS.
bool UsesTls(const ClientOptions& options);

// Plaintext or TLS credentials for `options`. InvalidArgument naming the option for a file
// that cannot be read or holds no PEM of the right kind, or a combination that cannot work.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const ClientOptions& options);

// The channel arguments every Client channel uses: the largest message a response may be,
// and keepalive.
grpc::ChannelArguments DefaultChannelArguments();

// A channel to `target` with ChannelCredentialsFor(options), `args` plus the TLS server name,
// and options.token_file's token on every call made on it (whoever builds the calls: the
// Client, a PageWriter, or a caller using Client::stub()).
// A refused handshake shows up as UNAVAILABLE on the first call, with gRPC's reason in the
// message when it gives one.
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(
    const std::string& target, const ClientOptions& options,
    grpc::ChannelArguments args = DefaultChannelArguments());

// What one write of a PageWriter ended with.
struct WriteResult {
  uint64_t request_id = 0;
  uint64_t page_index = 0;
  absl::Status status;
  absl::Duration latency;  // from Write() to the response
};

// One page of a Flush.
struct FlushPageResult {
  uint64_t page_index = 0;
  absl::Status status;
  std::vector<uint32_t> failed_blocks;
};

// What a Flush reports of its pages.
enum class FlushDetail {
  kPages,        // each page's result (FlushResult::pages, the on_page callback) and the summary
  kSummaryOnly,  // the summary alone (FlushRequest.summary_only): fewer messages for a caller
                 // that only acts on the result; FlushResult::pages stays empty
};

// A whole Flush: every page result in arrival order, then the summary.
struct FlushResult {
  std::vector<FlushPageResult> pages;
  uint64_t pages_written = 0;
  uint64_t pages_failed = 0;
  absl::Status status;        // the flush's result (also Flush()'s return value)
  uint64_t error_cursor = 0;  // this client's cursor after the flush
  bool has_summary = false;   // false when the stream ended before its summary
};

// One page read through a PageReader.
struct ReadResult {
  uint64_t request_id = 0;
  uint64_t page_index = 0;
  absl::Status status;
  std::string data;        // the whole page when status is OK
  absl::Duration latency;  // from Read() to the response
};

class Client;

// The client half of a batch stream (WritePageBatches, ReadPageBatches), which PageWriter and
// PageReader share. Callers queue items (page writes, page reads) from any thread, at most
// `window` unanswered; queuing blocks beyond. One request message is sent at a time: whenever
// none is, the stream packs what was queued meanwhile into the next (PackLocked), so a lone
// item goes at once and a busy caller sends few, full messages. Each result of a response runs
// its item's callback once, on a gRPC thread, outside mu_. The callbacks of one response run
// corked: the items they queue leave together once all have run, rather than the first alone
// and the rest in a second message. Items the stream ended without answering get the stream's
// error (UNAVAILABLE if it ended OK).
//
// The derived stream binds its call to context() in its constructor and then calls
// StartStream(); its destructor calls CancelAndWait() first, since gRPC's reactions call its
// hooks until OnDone.
//
// Thread-safe. Callbacks must not block; one may queue another item when that cannot find the
// window full: a blocked callback would hold up the responses that free the window.
// Defined in block_client.cc for PageWriter's and PageReader's messages.
template <typename Request, typename Response, typename Result>
class BatchStream : public grpc::ClientBidiReactor<Request, Response> {
 public:
  // Runs once with the item's result, on a gRPC thread.
  using Callback = std::function<void(const Result&)>;

  BatchStream(const BatchStream&) = delete;
  BatchStream& operator=(const BatchStream&) = delete;

  // Closes the sending side, waits for every response and returns the stream's status.
  absl::Status Finish() ABSL_LOCKS_EXCLUDED(mu_);

  // Items queued or sent and not yet answered.
  size_t in_flight() const ABSL_LOCKS_EXCLUDED(mu_);

  // ClientBidiReactor.
  void OnWriteDone(bool ok) final;
  void OnReadDone(bool ok) final;
  void OnDone(const grpc::Status& status) final;

 protected:
  // One result of a Response (its `results` field): v1::WritePageResponse, v1::ReadPageResult.
  using Answer = std::remove_pointer_t<decltype(std::declval<Response&>().add_results())>;

  // `item` names an item in errors ("write", "read"); `window` is at least 1.
  BatchStream(const char* item, size_t window);
  // REQUIRES: CancelAndWait() has returned.
  ~BatchStream() override = default;

  // Items unanswered at most.
  size_t window() const { return window_; }
  // The call's context, for the stub's async() method in the derived constructor.
  grpc::ClientContext* context() { return &context_; }
  // Starts the call bound to context(): the derived constructor's last step.
  void StartStream();
  // Cancels the call unless it is done, and waits for OnDone: the derived destructor's first
  // step.
  void CancelAndWait() ABSL_LOCKS_EXCLUDED(mu_);

  // Waits for room in the window, then takes the item of page `page_index`: `queue(id)` runs
  // under mu_ and puts it, with request id `id`, in the derived stream's queue; `done` gets its
  // result. Returns the stream's error when it has ended, or FailedPrecondition after Finish():
  // then nothing is queued and `done` is not called.
  absl::Status Enqueue(uint64_t page_index, Callback done,
                       absl::FunctionRef<void(uint64_t request_id)> queue) ABSL_LOCKS_EXCLUDED(mu_);

  // Hooks, called with mu_ held.
  // Whether the derived stream's queue is empty.
  virtual bool QueueEmptyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  // Fills `batch` (the previous message) with queued items for the next send, and may set a
  // buffer hint in `options`. Returns false to send nothing yet: a partial batch waits for a
  // response (OnReadDone calls again). Called only with items queued.
  virtual bool PackLocked(Request* batch, grpc::WriteOptions* options)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  // Completes `result` (request_id, page_index, status and latency set) from `answer`, its
  // item's, which it may move from.
  virtual void TakeAnswerLocked(Answer* answer, Result* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  // The stream is ending: what is queued will never be sent.
  virtual void DropQueueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;

  // Items queued or sent and not yet answered.
  size_t unanswered_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pending_.size(); }
  // Finish() was called: no item follows.
  bool finishing_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return writes_done_wanted_; }

  // Guards the derived stream's queue too: its hooks run under it.
  mutable absl::Mutex mu_;

 private:
  struct Pending {
    Callback done;
    uint64_t page_index;
    absl::Time start;
  };

  void MaybeStartWrite() ABSL_LOCKS_EXCLUDED(mu_);
  // Gives back the hold StartStream took, once. Call it when no StartWrite or StartWritesDone
  // can be started from outside a reaction any more.
  void ReleaseHold();

  const char* const item_;
  const size_t window_;
  grpc::ClientContext context_;
  Response response_;  // the read in progress (reads are serialized)
  // The message being sent: filled under mu_ while no send is outstanding (sending_ false),
  // then read by gRPC until OnWriteDone.
  Request batch_;

  uint64_t next_request_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);  // <= window_
  // batch_ is being sent, or the writes-done is (then for good)
  bool sending_ ABSL_GUARDED_BY(mu_) = false;
  // Callbacks of a response are running: the items they queue wait for all of them.
  int corked_ ABSL_GUARDED_BY(mu_) = 0;
  bool writes_done_wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // a send or read failed: the stream is ending
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_status_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> hold_released_{false};
};

extern template class BatchStream<v1::WritePageBatchRequest, v1::WritePageBatchResponse,
                                  WriteResult>;
extern template class BatchStream<v1::ReadPageBatchRequest, v1::ReadPageBatchResponse, ReadResult>;

// A WritePageBatches stream with a bounded window of writes in flight. Write() blocks while
// the window is full; each result runs the write's callback on a gRPC thread, possibly out of
// order. While one message is being sent, the writes queued meanwhile are packed into the next
// (up to max_batch_bytes), so a lone write goes at once and a busy writer sends few, large
// messages: gRPC's cost is per message, and 4 KiB pages one per message cost more CPU than
// the engine spends on them. Once kHoldInFlight writes (or half the writes unanswered, sent or
// queued, if more) are sent and unanswered, a batch short of max_batch_bytes waits for the next
// response: those answers come back soon and the writes queued meanwhile travel with them in a
// fuller message (Nagle's rule, counted in writes). Half of what is unanswered, not of the
// window: a caller whose depth is shared with reads never fills the window with writes, and a
// rule on the window sent its every write alone (docs/benchmarks.md, mix4k32). Never held: a
// window of kHoldInFlight or less, Finish(),
// and any batch while a FUA write is unanswered (its answer waits for the device). Writes the
// server parks on its dirty limit hold the batch behind them as long (up to its dirty wait).
//
// Thread-safe: several threads may call Write(). Callbacks must not block; one may call
// Write() when that cannot find the window full (blockbench issues one write per finished
// write): a blocked callback would hold up the responses that free the window.
class PageWriter
    : public BatchStream<v1::WritePageBatchRequest, v1::WritePageBatchResponse, WriteResult> {
 public:
  // The encoded writes packed into one message at most (a single larger write goes alone).
  // Below any server's max_message_bytes (at least the largest page plus 4 KiB) whatever the
  // page size; MaxBatchBytesFor gives the volume's server's own, which is larger.
  static constexpr size_t kDefaultMaxBatchBytes = 64 * 1024;
  // The most a message to the server of `info` may carry: its max_message_bytes (1 MiB + 4 KiB
  // by blockstored's default), or kDefaultMaxBatchBytes if the server does not say. Fewer,
  // fuller messages cost both processes less per write (docs/benchmarks.md, seq64k32).
  static size_t MaxBatchBytesFor(const v1::VolumeInfo& info) {
    return info.max_message_bytes() > 0 ? info.max_message_bytes() : kDefaultMaxBatchBytes;
  }
  // Sent, unanswered writes from which a partial batch waits (see the class comment): fuller
  // messages cost both processes less CPU per write (docs/benchmarks.md). 8 sent the 70/30
  // mix's writes (about 10 in flight of 32) two to a message; 4 sends five.
  static constexpr size_t kHoldInFlight = 4;

  // Use Client::NewPageWriter. `client` (may be null) samples its error cursor for each
  // volume on the first write to it.
  PageWriter(Client* client, v1::BlockStore::Stub* stub, size_t window,
             size_t max_batch_bytes = kDefaultMaxBatchBytes);
  // Cancels the stream if Finish() was not called, and waits until it is done.
  ~PageWriter() override;

  // Queues one write; `data` is copied. Blocks while `window` writes are unanswered. Returns
  // the stream's error when the stream has ended (the write was not sent; `done` not called).
  absl::Status Write(const std::string& volume, uint64_t page_index, uint32_t offset_bytes,
                     absl::string_view data, bool fua, Callback done) ABSL_LOCKS_EXCLUDED(mu_);

  // Finish() and in_flight(): BatchStream's.

  // Messages sent so far and the writes they carried: how well writes were packed.
  struct SendStats {
    uint64_t messages = 0;
    uint64_t writes = 0;
  };
  SendStats send_stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Queued {
    std::unique_ptr<v1::WritePageRequest> request;
    size_t encoded_bytes;  // its share of a batch message
  };

  // BatchStream.
  bool QueueEmptyLocked() const override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool PackLocked(v1::WritePageBatchRequest* batch, grpc::WriteOptions* options) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TakeAnswerLocked(v1::WritePageResponse* answer, WriteResult* result) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropQueueLocked() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Whether a batch of `queued_bytes` waits for a response, with `sent_unanswered` writes
  // out (see the class comment).
  bool HoldLocked(size_t sent_unanswered, size_t queued_bytes) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Client* const client_;
  const size_t max_batch_bytes_;

  std::deque<Queued> send_queue_ ABSL_GUARDED_BY(mu_);
  // Request ids of the FUA writes not yet answered. Writes the stream ended without answering
  // stay: nothing is packed after that.
  absl::flat_hash_set<uint64_t> fua_unanswered_ ABSL_GUARDED_BY(mu_);
  SendStats send_stats_ ABSL_GUARDED_BY(mu_);
};

// A ReadPageBatches stream: random page reads pipelined on one stream, several to a message,
// where ReadPage costs a unary call per page. Read() queues a read and returns; whenever no
// message is being sent, everything queued (up to kMaxBatchReads) goes out as one message, and
// reads issued by callbacks while a response is being handled leave together. Each read's
// callback runs once, on a gRPC thread, with the page or the read's own error; reads the
// stream ended without answering get the stream's error (UNAVAILABLE if it ended OK).
//
// Thread-safe; callbacks must not block (one may call Read()).
class PageReader
    : public BatchStream<v1::ReadPageBatchRequest, v1::ReadPageBatchResponse, ReadResult> {
 public:
  static constexpr int kMaxBatchReads = 64;

  // Use Client::NewPageReader. At most `window` reads are unanswered; Read() blocks beyond.
  PageReader(v1::BlockStore::Stub* stub, size_t window);
  // Cancels the stream if Finish() was not called, and waits until it is done.
  ~PageReader() override;

  // Queues a read of page `page_index` of `volume`. Returns the stream's error when it has
  // ended (the read was not sent; `done` not called).
  absl::Status Read(const std::string& volume, uint64_t page_index, Callback done)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Finish(): BatchStream's.

 private:
  // BatchStream.
  bool QueueEmptyLocked() const override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool PackLocked(v1::ReadPageBatchRequest* batch, grpc::WriteOptions* options) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TakeAnswerLocked(v1::ReadPageResult* answer, ReadResult* result) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropQueueLocked() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::deque<v1::ReadPageRequest> send_queue_ ABSL_GUARDED_BY(mu_);
};

// A blockstore.v1 client with synchronous calls. It keeps one error cursor per volume (R21):
// sampled from GetVolumeInfo the first time it uses a volume, advanced by each Flush, so every
// writeback error is reported to this client exactly once.
//
// Following a volume (docs/scale-out.md, "What a client sees during a failover"). A Client made
// by OpenForVolume keeps the address it was given, the discovery address (a Kubernetes Service
// that reaches any replica, say), and talks to the server that serves the volume. Its calls on a
// volume, GetVolumeInfo (and so ErrorCursor's sampling), WritePage, ReadPage, ReadPages (which
// resumes after the last page it delivered), Flush, FlushAsync and WriteRange, follow the volume
// when the server they reach does not serve it:
//  - FAILED_PRECONDITION with the trailer `blockstore-owner` (another server holds the volume):
//    the client switches to that server and sends the call again;
//  - UNAVAILABLE or CANCELLED (the server died, is stopping, or hands the volume over; a server
//    shutting down cancels calls that come after its drain), once some server has answered this
//    client (before that, UNAVAILABLE is reported at once: a wrong address): the client asks the
//    discovery address LocateVolume, at once and then every 0.1 s growing to 1 s, until a server
//    that can be reached serves the volume, switches to it and sends the call again. It asks for
//    at most ClientOptions::failover_timeout per call, then returns the call's error.
// A call switches servers at most kMaxSwitchesPerCall times, then returns its last error. Sending
// a call again is safe: a page write writes the same bytes to the same place again, a read
// reads, and a Flush goes with the client's error cursor exactly as the first did, so a server
// that took the volume over after an unclean stop answers DATA_LOSS (once) for what the dead
// server may have lost: the failover is reported, never retried away. Nothing else is retried:
// DATA_LOSS, FAILED_PRECONDITION without an owner (a latched error, a fenced server),
// DEADLINE_EXCEEDED and a Flush that got its summary are returned as they are.
// A switch holds for every later call. Streams stay on the server they were opened on: when it
// dies, a PageWriter's or PageReader's unanswered items fail (UNAVAILABLE) and so does the stream.
// Then call FollowVolume(), which waits as a call would for the server that serves the volume
// and switches the client to it, make a new stream (NewPageWriter and NewPageReader use the
// client's current server) and send the failed items again. (WriteRange does that itself.)
// CreateVolume, DeleteVolume, ListVolumes and LocateVolume go to the current server and are not
// followed. A Client made by Open, Connect or the constructor does not follow: it returns every
// error.
//
// Thread-safe. A switch replaces the channel and stub under mu_; an attempt in flight finishes
// on the server it started on (holding its own reference), and the client keeps the channel of
// every server it used, so stub() and the streams made on one stay valid for its life.
class Client {
 public:
  // A call switches servers at most this many times (ping-pong between servers that name each
  // other ends there).
  static constexpr int kMaxSwitchesPerCall = 4;

  // `target`: "host:port" or "unix:/path". Connects lazily: the first call reports UNAVAILABLE
  // if the server cannot be reached. An error only for TLS options that cannot work (a file
  // that cannot be read, see ChannelCredentialsFor).
  static absl::StatusOr<std::unique_ptr<Client>> Open(const std::string& target,
                                                      ClientOptions options = {});
  // A client of the server that serves `volume`: opens `target` and asks it (LocateVolume); when
  // another server holds the volume (volumes in Ceph, docs/scale-out.md), talks to that server
  // instead, with the same options. A server that answers NOT_FOUND or does not know
  // LocateVolume is used as it is (the call that follows reports what is wrong). The client
  // follows `volume` (class comment) with `target` as its discovery address. Until some server
  // has answered one of its calls (nothing answered at `target` at open: a wrong address, a
  // server that is down), UNAVAILABLE is reported at once instead of waited out.
  static absl::StatusOr<std::unique_ptr<Client>> OpenForVolume(const std::string& target,
                                                               const std::string& volume,
                                                               ClientOptions options = {});
  // Open for callers without TLS files; returns null where Open returns an error.
  static std::unique_ptr<Client> Connect(const std::string& target, ClientOptions options = {});
  // A client of `channel`'s server that does not follow volumes; target() is "".
  explicit Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options = {});

  absl::StatusOr<v1::VolumeInfo> CreateVolume(const std::string& name, uint64_t size_bytes,
                                              uint32_t page_size_bytes = 0,
                                              uint32_t block_size_bytes = 0);
  absl::Status DeleteVolume(const std::string& name);
  absl::StatusOr<std::vector<v1::VolumeInfo>> ListVolumes();
  absl::StatusOr<v1::VolumeInfo> GetVolumeInfo(const std::string& volume);
  // Which server serves `volume` (its address), and whether it is the one this client talks to.
  absl::StatusOr<v1::LocateVolumeResponse> LocateVolume(const std::string& volume);

  // Finds the server that serves `volume` now and makes it this client's server, for after a
  // stream failed (class comment): asks the discovery address LocateVolume, waiting as a failed
  // call would (up to failover_timeout) while no server that can be reached serves the volume.
  // Returns that server's address (target() from then on); at once when the current server
  // serves the volume and is connected.
  // FailedPrecondition for a client not made by OpenForVolume; UNAVAILABLE (with the discovery
  // address's last answer) when no server served the volume in time.
  absl::StatusOr<std::string> FollowVolume(const std::string& volume) ABSL_LOCKS_EXCLUDED(mu_);

  // The address of the server this client talks to now: OpenForVolume's owner, the last server
  // it followed the volume to, or Open's target ("" for a client made from a channel).
  std::string target() const ABSL_LOCKS_EXCLUDED(mu_);

  absl::Status WritePage(const std::string& volume, uint64_t page_index, uint32_t offset_bytes,
                         absl::string_view data, bool fua = false);
  absl::StatusOr<std::string> ReadPage(const std::string& volume, uint64_t page_index);
  // Streams pages [first, first + count) in order into `on_page`; a non-OK return from
  // `on_page` cancels the stream and is returned.
  absl::Status ReadPages(
      const std::string& volume, uint64_t first_page_index, uint64_t page_count,
      const std::function<absl::Status(uint64_t page_index, absl::string_view data)>& on_page);

  // Flushes the volume with this client's error cursor and advances it. Returns the flush's
  // result; `result` (optional) gets every page and the summary; `on_page` (optional) runs as
  // each page result arrives, on a gRPC thread. It waits for a gRPC thread to finish the call:
  // do not call it from a gRPC callback (FlushAsync is for that). A Flush that failed before
  // its summary is sent again after a switch (class comment), with the client's cursor: then
  // `on_page` may see the pages of both servers, and `result` holds the last one's.
  absl::Status Flush(const std::string& volume, FlushResult* result = nullptr,
                     const std::function<void(const FlushPageResult&)>& on_page = nullptr,
                     FlushDetail detail = FlushDetail::kPages);

  // Flush without a thread waiting for it: `done` runs once, on a gRPC thread, with the whole
  // result (its `status` is the flush's); `on_page` (optional) as each page result arrives. If
  // the cursor cannot be sampled, `done` runs on this thread, with that error, before the
  // call returns.
  // The cursor is advanced before `done` runs. If this client has no cursor for `volume` yet,
  // it is sampled first, synchronously (call ErrorCursor beforehand to keep this call from
  // blocking). Neither callback may block; both, and the Client, must stay valid until `done`
  // has run. It follows the volume as Flush does, waiting on gRPC's timers, never on a thread.
  void FlushAsync(const std::string& volume, std::function<void(FlushResult)> done,
                  std::function<void(const FlushPageResult&)> on_page = nullptr,
                  FlushDetail detail = FlushDetail::kPages);

  // A new WritePageBatches stream with at most `window` writes in flight, to the current
  // server; it stays on that server (class comment).
  std::unique_ptr<PageWriter> NewPageWriter(
      size_t window = 64, size_t max_batch_bytes = PageWriter::kDefaultMaxBatchBytes);
  // A ReadPageBatches stream with at most `window` reads unanswered, to the current server.
  std::unique_ptr<PageReader> NewPageReader(size_t window = 64);

  // Writes `data` into consecutive pages from `first_page_index` (offset 0 of each), through
  // a PageWriter with `window` writes in flight. `data` must be a multiple of the block size.
  // Returns the first failed write's status. A client that follows volumes writes the pages
  // whose writes failed UNAVAILABLE or FAILED_PRECONDITION again, on a new stream, after
  // FollowVolume moved it to another server (or, for UNAVAILABLE, found the same one
  // serving): at most kMaxSwitchesPerCall rounds.
  absl::Status WriteRange(const std::string& volume, uint64_t first_page_index,
                          absl::string_view data, size_t window = 64, bool fua = false);

  // This client's error cursor for `volume`, sampled from the server on first use.
  absl::StatusOr<uint64_t> ErrorCursor(const std::string& volume) ABSL_LOCKS_EXCLUDED(mu_);
  // Continues a session whose cursor was kept elsewhere (a script passing it between runs).
  void SetErrorCursor(const std::string& volume, uint64_t cursor) ABSL_LOCKS_EXCLUDED(mu_);

  // The current server's stub. Calls made on it directly are not followed. Valid for the
  // client's life, also after a switch.
  v1::BlockStore::Stub* stub() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class FlushCall;
  class Relocation;
  struct FlushOp;

  // One server: its address and the channel and stub to it; never changed once made. A call
  // holds a reference to the one it started on.
  struct Connection {
    std::string target;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::BlockStore::Stub> stub;
  };

  // What one call may still spend on following its volume, across its attempts.
  struct FollowBudget {
    int switches_left = kMaxSwitchesPerCall;
    // Until when the call asks where the volume is served: set at its first UNAVAILABLE.
    absl::Time wait_deadline = absl::InfinitePast();
    // The next wait between asks.
    absl::Duration wait = absl::Milliseconds(100);
  };

  Client(std::shared_ptr<Connection> connection, std::shared_ptr<Connection> discovery,
         ClientOptions options);

  static absl::StatusOr<std::shared_ptr<Connection>> MakeConnection(const std::string& target,
                                                                    const ClientOptions& options);

  void SetDeadline(grpc::ClientContext* context) const;
  void RememberCursor(const v1::VolumeInfo& info) ABSL_LOCKS_EXCLUDED(mu_);

  std::shared_ptr<Connection> CurrentConnection() const ABSL_LOCKS_EXCLUDED(mu_);
  // Makes the server at `target` the current one, unless the current one is no longer `from`
  // (another call switched first: its choice stands). An error only when no channel can be
  // opened to `target` (OpenChannel).
  absl::Status SwitchTo(const std::string& target, const std::shared_ptr<Connection>& from)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A connection this client made before to `target`, or null.
  std::shared_ptr<Connection> KnownConnectionLocked(const std::string& target)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Whether a call that ended with `failed` (and the trailer `owner`) is followed at all.
  bool Followable(const absl::Status& failed, const std::string& owner) const;
  // Records that a server answered (anything but UNAVAILABLE or CANCELLED): from then on a
  // server going away is waited out (Followable).
  void NoteAnswer(const absl::Status& status);
  // After a call on `volume` failed with `failed` on `failed_on` (`owner`: its trailer), finds
  // where the volume is served and switches there (class comment). `done` runs once: OK to send
  // the call again on CurrentConnection(), or the status to return. It runs on this thread when
  // nothing is to be followed, else on a gRPC thread. `budget` must outlive it. Without
  // `pace_retry`, an answer that the failed server serves the volume and can be reached ends at
  // once (FollowVolume); with it, the call waits first (the server refused it for a moment).
  void FollowAsync(const std::string& volume, const absl::Status& failed, const std::string& owner,
                   std::shared_ptr<Connection> failed_on, FollowBudget* budget, bool pace_retry,
                   std::function<void(absl::Status)> done) ABSL_LOCKS_EXCLUDED(mu_);
  // FollowAsync, waited for.
  absl::Status Follow(const std::string& volume, const absl::Status& failed,
                      const std::string& owner, std::shared_ptr<Connection> failed_on,
                      FollowBudget* budget, bool pace_retry = true) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `attempt(stub, context)` (a unary call on `volume`) on the current server, following
  // the volume while it fails that way.
  template <typename Attempt>
  absl::Status CallFollowing(const std::string& volume, Attempt attempt) ABSL_LOCKS_EXCLUDED(mu_);
  // Starts one attempt of `op` on the current server, with the client's cursor for its volume.
  void StartFlush(std::shared_ptr<FlushOp> op) ABSL_LOCKS_EXCLUDED(mu_);

  const ClientOptions options_;
  // Where this client asks which server serves a volume (OpenForVolume's target); null: it does
  // not follow volumes. Constant after construction.
  const std::shared_ptr<Connection> discovery_;
  std::atomic<bool> reached_{false};  // a server has answered a call of this client

  mutable absl::Mutex mu_;
  // The server calls go to now; never null.
  std::shared_ptr<Connection> connection_ ABSL_GUARDED_BY(mu_);
  // Every server switched away from, kept for stub() and the streams made on them: one per
  // server this client has talked to (a switch back takes its connection from here), so as
  // many as the failovers it followed to servers it had not used.
  std::vector<std::shared_ptr<Connection>> retired_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> cursors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace blockstore

#endif  // BLOCKSTORE_CLIENT_BLOCK_CLIENT_H_
