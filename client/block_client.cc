#include "client/block_client.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/alarm.h"
#include "grpcpp/support/client_interceptor.h"

namespace blockstore {
namespace {

// Responses larger than any page: ListVolumes of many volumes.
constexpr int kMaxReceiveMessageBytes = 64 << 20;

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

// BatchStream --------------------------------------------------------------------------------

template <typename Request, typename Response, typename Result>
BatchStream<Request, Response, Result>::BatchStream(const char* item, size_t window)
    : item_(item), window_(std::max<size_t>(1, window)) {}

template <typename Request, typename Response, typename Result>
void BatchStream<Request, Response, Result>::StartStream() {
  // Items are sent from the caller's thread (Enqueue, Finish), outside any reaction: gRPC may
  // run OnDone and end the call as soon as the stream breaks, after which a StartWrite from
  // outside would touch a finished call. The hold keeps the call until ReleaseHold() says no
  // such start can come any more (gRPC's AddHold, for exactly this case).
  this->AddHold();
  this->StartRead(&response_);
  this->StartCall();
}

template <typename Request, typename Response, typename Result>
void BatchStream<Request, Response, Result>::ReleaseHold() {
  if (!hold_released_.exchange(true, std::memory_order_acq_rel)) this->RemoveHold();
}

template <typename Request, typename Response, typename Result>
void BatchStream<Request, Response, Result>::CancelAndWait() {
  bool done;
  {
    absl::MutexLock lock(&mu_);
    done = done_;
  }
  if (!done) {
    context_.TryCancel();
    ReleaseHold();  // no Enqueue or Finish follows: the call may end
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }
}

template <typename Request, typename Response, typename Result>
absl::Status BatchStream<Request, Response, Result>::Enqueue(
    uint64_t page_index, Callback done, absl::FunctionRef<void(uint64_t request_id)> queue) {
  {
    absl::MutexLock lock(&mu_);
    auto has_room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done_ || broken_ || pending_.size() < window_;
    };
    mu_.Await(absl::Condition(&has_room));
    if (done_ || broken_ || writes_done_wanted_) {
      return !final_status_.ok()
                 ? final_status_
                 : absl::FailedPreconditionError(absl::StrCat("the ", item_, " stream is closed"));
    }
    const uint64_t id = next_request_id_++;
    pending_.emplace(id, Pending{std::move(done), page_index, absl::Now()});
    queue(id);
  }
  MaybeStartWrite();
  return absl::OkStatus();
}

template <typename Request, typename Response, typename Result>
void BatchStream<Request, Response, Result>::MaybeStartWrite() {
  grpc::WriteOptions options;
  bool writes_done = false;
  {
    absl::MutexLock lock(&mu_);
    if (sending_ || corked_ > 0 || broken_ || done_) return;
    if (!QueueEmptyLocked()) {
      if (!PackLocked(&batch_, &options)) return;  // held: OnReadDone calls here again
      sending_ = true;
    } else if (writes_done_wanted_ && !writes_done_sent_) {
      writes_done_sent_ = true;
      // Counts as a start in progress, so a breaking stream leaves the hold to this thread.
      sending_ = true;
      writes_done = true;
    } else {
      return;
    }
  }
  if (writes_done) {
    this->StartWritesDone();
    ReleaseHold();  // nothing is started from outside a reaction after the writes-done
    return;
  }
  this->StartWrite(&batch_, options);
}

template <typename Request, typename Response, typename Result>
void BatchStream<Request, Response, Result>::OnWriteDone(bool ok) {
  bool broken;
  {
    absl::MutexLock lock(&mu_);
    sending_ = false;
    if (!ok) {
      // The stream is ending; OnDone fails whatever is pending.
      broken_ = true;
      DropQueueLocked();
    }
    broken = broken_;
  }
  MaybeStartWrite();
  // A broken stream starts no more sends (MaybeStartWrite checks broken_ under mu_, and none
  // is in flight now): the call may end.
  if (broken) ReleaseHold();
}

template <typename Request, typename Response, typename Result>
void BatchStream<Request, Response, Result>::OnReadDone(bool ok) {
  if (!ok) {
    // The stream is ending (the server finished it, or the connection broke). No send is
    // started from now on; once none is in flight the hold goes and OnDone follows.
    bool idle;
    {
      absl::MutexLock lock(&mu_);
      broken_ = true;
      DropQueueLocked();
      idle = !sending_;
    }
    if (idle) ReleaseHold();  // else OnWriteDone releases it
    return;
  }
  std::vector<std::pair<Callback, Result>> finished;
  finished.reserve(response_.results_size());
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    ++corked_;
    for (Answer& answer : *response_.mutable_results()) {
      auto it = pending_.find(answer.request_id());
      if (it == pending_.end()) continue;  // not ours: the server answered twice or wrongly
      Result result;
      result.request_id = answer.request_id();
      result.page_index = answer.page_index();
      if (answer.code() != 0) {
        result.status =
            absl::Status(static_cast<absl::StatusCode>(answer.code()), answer.message());
      }
      result.latency = now - it->second.start;
      TakeAnswerLocked(&answer, &result);
      finished.emplace_back(std::move(it->second.done), std::move(result));
      pending_.erase(it);
    }
  }
  // Outside mu_: a callback may look at in_flight(), and Enqueue waits on mu_ for room.
  for (auto& [done, result] : finished) {
    if (done) done(result);
  }
  {
    absl::MutexLock lock(&mu_);
    --corked_;
  }
  MaybeStartWrite();
  this->StartRead(&response_);
}

template <typename Request, typename Response, typename Result>
void BatchStream<Request, Response, Result>::OnDone(const grpc::Status& status) {
  absl::flat_hash_map<uint64_t, Pending> orphans;
  const absl::Status final_status = FromGrpcStatus(status);
  {
    absl::MutexLock lock(&mu_);
    // Under the same lock: an Enqueue from now on fails at once instead of adding an item that
    // no response and no orphan callback would ever answer.
    broken_ = true;
    final_status_ = final_status;
    orphans.swap(pending_);
    DropQueueLocked();
  }
  // Items the stream ended without answering: their fate is unknown to this client.
  const absl::Status orphan_status =
      final_status.ok() ? absl::UnavailableError(
                              absl::StrCat("the stream ended before this ", item_, "'s response"))
                        : final_status;
  for (auto& [id, pending] : orphans) {
    Result result;
    result.request_id = id;
    result.page_index = pending.page_index;
    result.status = orphan_status;
    result.latency = absl::Now() - pending.start;
    if (pending.done) pending.done(result);
  }
  absl::MutexLock lock(&mu_);
  done_ = true;
}

template <typename Request, typename Response, typename Result>
absl::Status BatchStream<Request, Response, Result>::Finish() {
  {
    absl::MutexLock lock(&mu_);
    writes_done_wanted_ = true;
  }
  MaybeStartWrite();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&done_));
  return final_status_;
}

template <typename Request, typename Response, typename Result>
size_t BatchStream<Request, Response, Result>::in_flight() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

template class BatchStream<v1::WritePageBatchRequest, v1::WritePageBatchResponse, WriteResult>;
template class BatchStream<v1::ReadPageBatchRequest, v1::ReadPageBatchResponse, ReadResult>;

// PageWriter ---------------------------------------------------------------------------------

PageWriter::PageWriter(Client* client, v1::BlockStore::Stub* stub, size_t window,
                       size_t max_batch_bytes)
    : BatchStream("write", window), client_(client), max_batch_bytes_(max_batch_bytes) {
  stub->async()->WritePageBatches(context(), this);
  StartStream();
}

PageWriter::~PageWriter() { CancelAndWait(); }

absl::Status PageWriter::Write(const std::string& volume, uint64_t page_index,
                               uint32_t offset_bytes, absl::string_view data, bool fua,
                               Callback done) {
  if (client_ != nullptr) {
    // Samples the cursor on first use; a failure here shows up as the write's own error.
    (void)client_->ErrorCursor(volume);
  }
  // Built (and `data` copied) outside mu_, so writers do not serialize on the copy.
  auto request = std::make_unique<v1::WritePageRequest>();
  request->set_volume(volume);
  request->set_page_index(page_index);
  request->set_offset_bytes(offset_bytes);
  request->set_data(data.data(), data.size());
  request->set_fua(fua);
  return Enqueue(page_index, std::move(done),
                 [this, &request, fua](uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                   request->set_request_id(id);
                   if (fua) fua_unanswered_.insert(id);
                   // The field's tag and length prefix cost at most 1 + 5 bytes more.
                   const size_t encoded_bytes = request->ByteSizeLong() + 6;
                   send_queue_.push_back(Queued{std::move(request), encoded_bytes});
                 });
}

bool PageWriter::HoldLocked(size_t sent_unanswered, size_t queued_bytes) const {
  return !finishing_locked() && fua_unanswered_.empty() &&
         sent_unanswered >= std::max(kHoldInFlight, unanswered_locked() / 2) &&
         queued_bytes < max_batch_bytes_;
}

bool PageWriter::QueueEmptyLocked() const { return send_queue_.empty(); }

bool PageWriter::PackLocked(v1::WritePageBatchRequest* batch, grpc::WriteOptions* options) {
  // unanswered_locked() counts every unanswered write, queued or sent.
  const size_t sent_unanswered = unanswered_locked() - send_queue_.size();
  size_t queued_bytes = 0;
  for (const Queued& queued : send_queue_) queued_bytes += queued.encoded_bytes;
  // Nagle's rule in writes: with enough on the wire, a short batch waits for a response to
  // gather more.
  if (HoldLocked(sent_unanswered, queued_bytes)) return false;
  // Everything queued, up to max_batch_bytes_; the first write goes even if larger.
  batch->Clear();
  size_t bytes = 0;
  while (!send_queue_.empty() && (batch->writes_size() == 0 ||
                                  bytes + send_queue_.front().encoded_bytes <= max_batch_bytes_)) {
    bytes += send_queue_.front().encoded_bytes;
    batch->mutable_writes()->AddAllocated(send_queue_.front().request.release());
    send_queue_.pop_front();
  }
  // The buffer hint lets gRPC report this message written while it still sits in its buffer,
  // to go out with the next one; so it is given only when the next one will not be held: a
  // held batch would wait for answers to writes that never left.
  if (!send_queue_.empty() &&
      !HoldLocked(sent_unanswered + batch->writes_size(), queued_bytes - bytes)) {
    options->set_buffer_hint();
  }
  ++send_stats_.messages;
  send_stats_.writes += batch->writes_size();
  return true;
}

void PageWriter::TakeAnswerLocked(v1::WritePageResponse* /*answer*/, WriteResult* result) {
  if (!fua_unanswered_.empty()) fua_unanswered_.erase(result->request_id);
}

void PageWriter::DropQueueLocked() { send_queue_.clear(); }

PageWriter::SendStats PageWriter::send_stats() const {
  absl::MutexLock lock(&mu_);
  return send_stats_;
}

// PageReader ---------------------------------------------------------------------------------

PageReader::PageReader(v1::BlockStore::Stub* stub, size_t window) : BatchStream("read", window) {
  stub->async()->ReadPageBatches(context(), this);
  StartStream();
}

PageReader::~PageReader() { CancelAndWait(); }

absl::Status PageReader::Read(const std::string& volume, uint64_t page_index, Callback done) {
  return Enqueue(page_index, std::move(done),
                 [this, &volume, page_index](uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                   v1::ReadPageRequest& request = send_queue_.emplace_back();
                   request.set_volume(volume);
                   request.set_page_index(page_index);
                   request.set_request_id(id);
                 });
}

bool PageReader::QueueEmptyLocked() const { return send_queue_.empty(); }

bool PageReader::PackLocked(v1::ReadPageBatchRequest* batch, grpc::WriteOptions* /*options*/) {
  batch->Clear();
  while (!send_queue_.empty() && batch->reads_size() < kMaxBatchReads) {
    batch->add_reads()->Swap(&send_queue_.front());
    send_queue_.pop_front();
  }
  return true;
}

void PageReader::TakeAnswerLocked(v1::ReadPageResult* answer, ReadResult* result) {
  result->data = std::move(*answer->mutable_data());
}

void PageReader::DropQueueLocked() { send_queue_.clear(); }

// Client -------------------------------------------------------------------------------------

namespace {

absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view option,
                                        absl::string_view marker, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(option, ": cannot read \"", path, "\""));
  std::stringstream contents;
  contents << in.rdbuf();
  if (!absl::StrContains(contents.str(), marker)) {
    return absl::InvalidArgumentError(
        absl::StrCat(option, ": \"", path, "\" holds no PEM ", what, " (no \"", marker, "\")"));
  }
  return contents.str();
}

// Whether only this machine can be reached at `target`: a unix socket, or loopback.
bool IsLocalTarget(absl::string_view target) {
  if (absl::StartsWith(target, "unix:")) return true;
  absl::ConsumePrefix(&target, "ipv4:");
  absl::ConsumePrefix(&target, "ipv6:");
  return absl::StartsWith(target, "127.") || absl::StartsWith(target, "localhost:") ||
         absl::StartsWith(target, "[::1]:");
}

// Adds the bearer token to the initial metadata of every call of a channel. An interceptor,
// not call credentials: gRPC refuses call credentials on a plaintext channel, and tokens are
// allowed there on loopback.
class BearerTokenInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit BearerTokenInterceptor(const std::string* header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", *header_);
    }
    methods->Proceed();
  }

 private:
  const std::string* const header_;
};

class BearerTokenInterceptorFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenInterceptorFactory(const std::string& token)
      : header_(absl::StrCat("Bearer ", token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new BearerTokenInterceptor(&header_);
  }

 private:
  const std::string header_;  // the channel owns the factory, so it outlives every call
};

}  // namespace

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("token_file: cannot read \"", path, "\""));
  }
  std::stringstream contents;
  contents << in.rdbuf();
  const std::string token(absl::StripAsciiWhitespace(contents.str()));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("token_file: \"", path, "\" is empty"));
  }
  for (const char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat("token_file: \"", path,
                       "\" holds characters a token cannot have (spaces, control characters or "
                       "non-ASCII bytes); it should hold the token alone"));
    }
  }
  return token;
}

bool UsesTls(const ClientOptions& options) {
  return !options.tls_ca_file.empty() || !options.tls_cert_file.empty();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const ClientOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(options.tls_cert_file.empty()
                                          ? "tls_key_file: needs --tls_cert_file"
                                          : "tls_cert_file: needs --tls_key_file");
  }
  if (!UsesTls(options)) {
    if (!options.tls_server_name.empty()) {
      return absl::InvalidArgumentError(
          "tls_server_name: needs TLS (--tls_ca_file or --tls_cert_file)");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  constexpr char kCertificate[] = "-----BEGIN CERTIFICATE-----";
  if (!options.tls_ca_file.empty()) {
    absl::StatusOr<std::string> roots =
        ReadPemFile(options.tls_ca_file, "tls_ca_file", kCertificate, "CA certificate");
    if (!roots.ok()) return roots.status();
    ssl.pem_root_certs = *std::move(roots);
  }
  if (!options.tls_cert_file.empty()) {
    absl::StatusOr<std::string> chain =
        ReadPemFile(options.tls_cert_file, "tls_cert_file", kCertificate, "certificate");
    if (!chain.ok()) return chain.status();
    absl::StatusOr<std::string> key =
        ReadPemFile(options.tls_key_file, "tls_key_file", "PRIVATE KEY-----", "private key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(chain);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

grpc::ChannelArguments DefaultChannelArguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  // While a call is open, ping a quiet connection every minute and give up on it after 20 s
  // without an answer: a stream waiting on a dead server (a powered-off node) fails instead of
  // hanging for TCP's retransmission timeout. blockstored accepts pings every 10 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  return args;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const std::string& target,
                                                           const ClientOptions& options,
                                                           grpc::ChannelArguments args) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ChannelCredentialsFor(options);
  if (!credentials.ok()) return credentials.status();
  if (!options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  if (options.token_file.empty()) return grpc::CreateCustomChannel(target, *credentials, args);
  if (!UsesTls(options) && !IsLocalTarget(target)) {
    return absl::InvalidArgumentError(
        absl::StrCat("token_file: the token would cross the network to \"", target,
                     "\" in the clear: use TLS (--tls_ca_file)"));
  }
  absl::StatusOr<std::string> token = ReadTokenFile(options.token_file);
  if (!token.ok()) return token.status();
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<BearerTokenInterceptorFactory>(*token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(target, *credentials, args,
                                                                 std::move(factories));
}

namespace {

// The trailer of a FAILED_PRECONDITION for a volume another server holds: that server's
// address (blockstore.proto, LocateVolume).
constexpr char kOwnerTrailer[] = "blockstore-owner";
// The longest wait between two LocateVolume asks while a volume is not served.
constexpr absl::Duration kMaxFollowWait = absl::Seconds(1);

// The owner a refused call named in its trailer, or "".
std::string OwnerTrailer(const grpc::ClientContext& context) {
  const std::multimap<grpc::string_ref, grpc::string_ref>& trailers =
      context.GetServerTrailingMetadata();
  auto it = trailers.find(kOwnerTrailer);
  return it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
}

}  // namespace

absl::StatusOr<std::shared_ptr<Client::Connection>> Client::MakeConnection(
    const std::string& target, const ClientOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenChannel(target, options);
  if (!channel.ok()) return channel.status();
  auto connection = std::make_shared<Connection>();
  connection->target = target;
  connection->channel = *std::move(channel);
  connection->stub = v1::BlockStore::NewStub(connection->channel);
  return connection;
}

absl::StatusOr<std::unique_ptr<Client>> Client::Open(const std::string& target,
                                                     ClientOptions options) {
  absl::StatusOr<std::shared_ptr<Connection>> connection = MakeConnection(target, options);
  if (!connection.ok()) return connection.status();
  return std::unique_ptr<Client>(new Client(*std::move(connection), nullptr, std::move(options)));
}

absl::StatusOr<std::unique_ptr<Client>> Client::OpenForVolume(const std::string& target,
                                                              const std::string& volume,
                                                              ClientOptions options) {
  absl::StatusOr<std::shared_ptr<Connection>> discovery = MakeConnection(target, options);
  if (!discovery.ok()) return discovery.status();
  std::unique_ptr<Client> client(new Client(*discovery, *discovery, std::move(options)));
  absl::StatusOr<v1::LocateVolumeResponse> located = client->LocateVolume(volume);
  // When nothing answers at `target` (a wrong address, a server that is down, a blip), the
  // client has not reached the volume yet: until a call gets an answer it does not wait for a
  // failover, so the first call reports UNAVAILABLE at once (see Followable).
  client->NoteAnswer(located.status());
  if (!located.ok() || located->served_here() || located->owner().empty() ||
      located->owner() == target) {
    return client;
  }
  const absl::Status switched = client->SwitchTo(located->owner(), *discovery);
  if (!switched.ok()) return switched;
  return client;
}

std::unique_ptr<Client> Client::Connect(const std::string& target, ClientOptions options) {
  absl::StatusOr<std::unique_ptr<Client>> client = Open(target, std::move(options));
  if (!client.ok()) return nullptr;
  return *std::move(client);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : options_(std::move(options)), connection_(std::make_shared<Connection>()) {
  connection_->channel = std::move(channel);
  connection_->stub = v1::BlockStore::NewStub(connection_->channel);
}

Client::Client(std::shared_ptr<Connection> connection, std::shared_ptr<Connection> discovery,
               ClientOptions options)
    : options_(std::move(options)),
      discovery_(std::move(discovery)),
      connection_(std::move(connection)) {}

void Client::SetDeadline(grpc::ClientContext* context) const {
  if (options_.timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  }
}

std::shared_ptr<Client::Connection> Client::CurrentConnection() const {
  absl::MutexLock lock(&mu_);
  return connection_;
}

std::string Client::target() const { return CurrentConnection()->target; }

v1::BlockStore::Stub* Client::stub() { return CurrentConnection()->stub.get(); }

std::shared_ptr<Client::Connection> Client::KnownConnectionLocked(const std::string& target) {
  for (const std::shared_ptr<Connection>& known : retired_) {
    if (known->target == target) return known;
  }
  if (discovery_ != nullptr && discovery_->target == target) return discovery_;
  return nullptr;
}

absl::Status Client::SwitchTo(const std::string& target, const std::shared_ptr<Connection>& from) {
  std::shared_ptr<Connection> next;
  {
    absl::MutexLock lock(&mu_);
    if (connection_ != from) return absl::OkStatus();
    next = KnownConnectionLocked(target);
  }
  if (next == nullptr) {
    // Outside mu_: opening a channel may read the token file.
    absl::StatusOr<std::shared_ptr<Connection>> made = MakeConnection(target, options_);
    if (!made.ok()) return made.status();
    next = *std::move(made);
  }
  absl::MutexLock lock(&mu_);
  if (connection_ != from) return absl::OkStatus();
  retired_.erase(std::remove(retired_.begin(), retired_.end(), next), retired_.end());
  if (connection_ != discovery_) retired_.push_back(std::move(connection_));
  connection_ = std::move(next);
  return absl::OkStatus();
}

bool Client::Followable(const absl::Status& failed, const std::string& owner) const {
  if (discovery_ == nullptr) return false;
  if (absl::IsFailedPrecondition(failed)) return !owner.empty();
  // The server went away (UNAVAILABLE), or was shutting down and cancelled the call (CANCELLED:
  // BlockServer::Shutdown ends calls that come after the drain so): wait for whoever takes the
  // volume over, but only once this client has had an answer from a server at all.
  return (absl::IsUnavailable(failed) || absl::IsCancelled(failed)) &&
         reached_.load(std::memory_order_acquire);
}

void Client::NoteAnswer(const absl::Status& status) {
  if (!absl::IsUnavailable(status) && !absl::IsCancelled(status)) {
    reached_.store(true, std::memory_order_release);
  }
}

// One search for the server that serves a volume after a call on it failed (FollowAsync). It
// runs on gRPC threads (LocateVolume's callback, an Alarm's) and never blocks one; it ends by
// running `done` once, then deletes itself.
class Client::Relocation {
 public:
  Relocation(Client* client, std::string volume, absl::Status failed,
             std::shared_ptr<Connection> failed_on, FollowBudget* budget, bool pace_retry,
             std::function<void(absl::Status)> done)
      : client_(client),
        volume_(std::move(volume)),
        failed_(std::move(failed)),
        failed_on_(std::move(failed_on)),
        budget_(budget),
        pace_retry_(pace_retry),
        done_(std::move(done)) {}

  // REQUIRES: client_->Followable(failed_, owner).
  void Start(const std::string& owner) {
    if (client_->CurrentConnection() != failed_on_) return Switched();
    if (absl::IsFailedPrecondition(failed_)) {
      // A server that names itself as the owner is not one to follow.
      if (owner == failed_on_->target) return Finish(failed_);
      return SwitchTo(owner);
    }
    if (budget_->wait_deadline == absl::InfinitePast()) {
      budget_->wait_deadline = absl::Now() + client_->options_.failover_timeout;
    }
    Locate();
  }

 private:
  // Asks the discovery address where the volume is served.
  void Locate() {
    context_ = std::make_unique<grpc::ClientContext>();
    // Within failover_timeout: one ask may not outlast the search (at least a second, so a
    // search with no time left still asks once).
    const absl::Time now = absl::Now();
    absl::Time deadline = std::max(budget_->wait_deadline, now + absl::Seconds(1));
    if (client_->options_.timeout != absl::InfiniteDuration()) {
      deadline = std::min(deadline, now + client_->options_.timeout);
    }
    context_->set_deadline(absl::ToChronoTime(deadline));
    request_.set_volume(volume_);
    client_->discovery_->stub->async()->LocateVolume(
        context_.get(), &request_, &response_,
        [this](grpc::Status status) { OnLocated(FromGrpcStatus(status)); });
  }

  void OnLocated(const absl::Status& status) {
    if (!status.ok()) {
      last_answer_ = status.ToString();
      // The discovery address is down too, or slow: ask again. Any other answer (NOT_FOUND: the
      // volume was deleted meanwhile) ends the search.
      if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
        return WaitThen(&Relocation::Locate);
      }
      return Finish(absl::Status(
          failed_.code(),
          absl::StrCat(failed_.message(), "; asked where volume ", volume_, " is served, ",
                       client_->discovery_->target, " answered: ", last_answer_)));
    }
    const std::string& owner = response_.owner();
    last_answer_ = response_.served_here() ? "served there"
                   : owner.empty()         ? "no owner"
                                           : absl::StrCat("served by ", owner);
    // The address to talk to: the owner's, as it advertises itself, or the discovery address
    // when the server behind it serves the volume without one.
    const std::string next = !owner.empty()            ? owner
                             : response_.served_here() ? client_->discovery_->target
                                                       : "";
    if (client_->CurrentConnection() != failed_on_) return Switched();
    if (next.empty()) return WaitThen(&Relocation::Locate);
    if (next != failed_on_->target) return SwitchTo(next);
    // The server that failed the call is named. Dead (Ceph has not yet ended its watch, so it
    // still holds the volume): its channel cannot connect; ask again until another takes over.
    // Reachable (it refused the call while stopping or busy, or it restarted at the same
    // address): send the call to it again.
    if (failed_on_->channel->GetState(/*try_to_connect=*/true) != GRPC_CHANNEL_READY) {
      return WaitThen(&Relocation::Locate);
    }
    if (pace_retry_) return WaitThen(&Relocation::Retry);
    Finish(absl::OkStatus());
  }

  void Retry() { Finish(absl::OkStatus()); }

  // Another call switched the client after this one failed: this call follows it there.
  void Switched() {
    if (budget_->switches_left <= 0) return Finish(failed_);
    --budget_->switches_left;
    Finish(absl::OkStatus());
  }

  void SwitchTo(const std::string& target) {
    if (budget_->switches_left <= 0) return Finish(failed_);
    --budget_->switches_left;
    Finish(client_->SwitchTo(target, failed_on_));
  }

  // Runs `next` after the budget's wait, which then grows; gives up when the wait would end
  // past the call's deadline for waiting.
  void WaitThen(void (Relocation::*next)()) {
    const absl::Time now = absl::Now();
    if (now + budget_->wait > budget_->wait_deadline) return Finish(GiveUp());
    // A new Alarm for each wait: an Alarm is set once. The one replaced has fired (this runs
    // in LocateVolume's callback), and gRPC keeps it until its callback has returned.
    alarm_ = std::make_unique<grpc::Alarm>();
    alarm_->Set(absl::ToChronoTime(now + budget_->wait), [this, next](bool fired) {
      if (fired) {
        (this->*next)();
      } else {
        Finish(failed_);
      }
    });
    budget_->wait = std::min(budget_->wait * 2, kMaxFollowWait);
  }

  // The call's error, saying how long the volume was looked for and what the discovery address
  // said last.
  absl::Status GiveUp() const {
    return absl::Status(
        failed_.code(),
        absl::StrCat(failed_.message(), "; volume ", volume_,
                     " was not served by a server that can be reached within failover_timeout (",
                     absl::FormatDuration(client_->options_.failover_timeout), "); ",
                     client_->discovery_->target, " last answered: ", last_answer_));
  }

  void Finish(absl::Status status) {
    std::function<void(absl::Status)> done = std::move(done_);
    delete this;  // first: no reference to a channel outlives `done` (see FlushCall::OnDone)
    done(std::move(status));
  }

  Client* const client_;
  const std::string volume_;
  const absl::Status failed_;
  const std::shared_ptr<Connection> failed_on_;
  FollowBudget* const budget_;
  const bool pace_retry_;
  std::function<void(absl::Status)> done_;
  // The LocateVolume in progress (one at a time).
  std::unique_ptr<grpc::ClientContext> context_;
  v1::LocateVolumeRequest request_;
  v1::LocateVolumeResponse response_;
  std::unique_ptr<grpc::Alarm> alarm_;
  std::string last_answer_ = "nothing yet";
};

void Client::FollowAsync(const std::string& volume, const absl::Status& failed,
                         const std::string& owner, std::shared_ptr<Connection> failed_on,
                         FollowBudget* budget, bool pace_retry,
                         std::function<void(absl::Status)> done) {
  if (!Followable(failed, owner)) {
    failed_on.reset();  // before `done`: see FlushCall::OnDone
    done(failed);
    return;
  }
  (new Relocation(this, volume, failed, std::move(failed_on), budget, pace_retry, std::move(done)))
      ->Start(owner);
}

absl::Status Client::Follow(const std::string& volume, const absl::Status& failed,
                            const std::string& owner, std::shared_ptr<Connection> failed_on,
                            FollowBudget* budget, bool pace_retry) {
  if (!Followable(failed, owner)) return failed;
  absl::Notification finished;
  absl::Status result;
  FollowAsync(volume, failed, owner, std::move(failed_on), budget, pace_retry,
              [&result, &finished](absl::Status status) {
                result = std::move(status);
                finished.Notify();
              });
  finished.WaitForNotification();
  return result;
}

template <typename Attempt>
absl::Status Client::CallFollowing(const std::string& volume, Attempt attempt) {
  FollowBudget budget;
  for (;;) {
    std::shared_ptr<Connection> connection = CurrentConnection();
    grpc::ClientContext context;
    SetDeadline(&context);
    const absl::Status status = FromGrpcStatus(attempt(*connection->stub, &context));
    NoteAnswer(status);
    if (status.ok()) return status;
    const absl::Status next =
        Follow(volume, status, OwnerTrailer(context), std::move(connection), &budget);
    if (!next.ok()) return next;
  }
}

absl::StatusOr<std::string> Client::FollowVolume(const std::string& volume) {
  if (discovery_ == nullptr) {
    return absl::FailedPreconditionError(
        "FollowVolume: this client was not made by OpenForVolume, so it has no discovery "
        "address to ask");
  }
  // Asked for: wait for a server to serve the volume even if none has answered yet.
  reached_.store(true, std::memory_order_release);
  FollowBudget budget;
  const absl::Status status =
      Follow(volume, absl::UnavailableError(absl::StrCat("FollowVolume(", volume, ")")), "",
             CurrentConnection(), &budget, /*pace_retry=*/false);
  if (!status.ok()) return status;
  return target();
}

void Client::RememberCursor(const v1::VolumeInfo& info) {
  absl::MutexLock lock(&mu_);
  cursors_.emplace(info.name(), info.error_cursor());  // keeps an existing cursor
}

absl::StatusOr<uint64_t> Client::ErrorCursor(const std::string& volume) {
  {
    absl::MutexLock lock(&mu_);
    auto it = cursors_.find(volume);
    if (it != cursors_.end()) return it->second;
  }
  absl::StatusOr<v1::VolumeInfo> info = GetVolumeInfo(volume);
  if (!info.ok()) return info.status();
  absl::MutexLock lock(&mu_);
  return cursors_.emplace(volume, info->error_cursor()).first->second;
}

void Client::SetErrorCursor(const std::string& volume, uint64_t cursor) {
  absl::MutexLock lock(&mu_);
  cursors_[volume] = cursor;
}

absl::StatusOr<v1::VolumeInfo> Client::CreateVolume(const std::string& name, uint64_t size_bytes,
                                                    uint32_t page_size_bytes,
                                                    uint32_t block_size_bytes) {
  v1::CreateVolumeRequest request;
  request.set_name(name);
  request.set_size_bytes(size_bytes);
  request.set_page_size_bytes(page_size_bytes);
  request.set_block_size_bytes(block_size_bytes);
  v1::VolumeInfo info;
  grpc::ClientContext context;
  SetDeadline(&context);
  absl::Status status =
      FromGrpcStatus(CurrentConnection()->stub->CreateVolume(&context, request, &info));
  if (!status.ok()) return status;
  RememberCursor(info);
  return info;
}

absl::Status Client::DeleteVolume(const std::string& name) {
  v1::DeleteVolumeRequest request;
  request.set_volume(name);
  v1::DeleteVolumeResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  absl::Status status =
      FromGrpcStatus(CurrentConnection()->stub->DeleteVolume(&context, request, &response));
  if (status.ok()) {
    absl::MutexLock lock(&mu_);
    cursors_.erase(name);
  }
  return status;
}

absl::StatusOr<std::vector<v1::VolumeInfo>> Client::ListVolumes() {
  v1::ListVolumesRequest request;
  v1::ListVolumesResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  absl::Status status =
      FromGrpcStatus(CurrentConnection()->stub->ListVolumes(&context, request, &response));
  if (!status.ok()) return status;
  return std::vector<v1::VolumeInfo>(response.volumes().begin(), response.volumes().end());
}

absl::StatusOr<v1::VolumeInfo> Client::GetVolumeInfo(const std::string& volume) {
  v1::GetVolumeInfoRequest request;
  request.set_volume(volume);
  v1::VolumeInfo info;
  const absl::Status status =
      CallFollowing(volume, [&](v1::BlockStore::Stub& stub, grpc::ClientContext* context) {
        return stub.GetVolumeInfo(context, request, &info);
      });
  if (!status.ok()) return status;
  RememberCursor(info);
  return info;
}

absl::StatusOr<v1::LocateVolumeResponse> Client::LocateVolume(const std::string& volume) {
  v1::LocateVolumeRequest request;
  request.set_volume(volume);
  v1::LocateVolumeResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  absl::Status status =
      FromGrpcStatus(CurrentConnection()->stub->LocateVolume(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::Status Client::WritePage(const std::string& volume, uint64_t page_index,
                               uint32_t offset_bytes, absl::string_view data, bool fua) {
  (void)ErrorCursor(volume);  // sample on first use; a failure shows up as the write's error
  v1::WritePageRequest request;
  request.set_volume(volume);
  request.set_page_index(page_index);
  request.set_offset_bytes(offset_bytes);
  request.set_data(data.data(), data.size());
  request.set_fua(fua);
  v1::WritePageResponse response;
  // Sent again after a switch: the same bytes to the same place.
  return CallFollowing(volume, [&](v1::BlockStore::Stub& stub, grpc::ClientContext* context) {
    return stub.WritePage(context, request, &response);
  });
}

absl::StatusOr<std::string> Client::ReadPage(const std::string& volume, uint64_t page_index) {
  v1::ReadPageRequest request;
  request.set_volume(volume);
  request.set_page_index(page_index);
  v1::ReadPageResponse response;
  const absl::Status status =
      CallFollowing(volume, [&](v1::BlockStore::Stub& stub, grpc::ClientContext* context) {
        return stub.ReadPage(context, request, &response);
      });
  if (!status.ok()) return status;
  return std::move(*response.mutable_data());
}

absl::Status Client::ReadPages(
    const std::string& volume, uint64_t first_page_index, uint64_t page_count,
    const std::function<absl::Status(uint64_t, absl::string_view)>& on_page) {
  FollowBudget budget;
  // Pages come in order: after a switch, the stream resumes after the last one delivered.
  uint64_t delivered = 0;
  for (;;) {
    std::shared_ptr<Connection> connection = CurrentConnection();
    v1::ReadPagesRequest request;
    request.set_volume(volume);
    request.set_first_page_index(first_page_index + delivered);
    request.set_page_count(page_count - delivered);
    grpc::ClientContext context;
    SetDeadline(&context);
    std::unique_ptr<grpc::ClientReader<v1::ReadPageResponse>> reader =
        connection->stub->ReadPages(&context, request);
    v1::ReadPageResponse response;
    absl::Status callback_status;
    while (reader->Read(&response)) {
      ++delivered;
      callback_status = on_page(response.page_index(), response.data());
      if (!callback_status.ok()) {
        context.TryCancel();
        break;
      }
    }
    const absl::Status status = FromGrpcStatus(reader->Finish());
    if (!callback_status.ok()) return callback_status;
    if (status.ok() || delivered == page_count) return status;
    const absl::Status next =
        Follow(volume, status, OwnerTrailer(context), std::move(connection), &budget);
    if (!next.ok()) return next;
  }
}

// One FlushAsync, across the attempts that following its volume may take.
struct Client::FlushOp {
  std::string volume;
  std::function<void(FlushResult)> done;
  std::function<void(const FlushPageResult&)> on_page;
  FlushDetail detail = FlushDetail::kPages;
  uint64_t first_cursor = 0;  // the cursor of the first attempt
  FollowBudget budget;
};

// One attempt of a Flush on one server; deletes itself when the call is done.
class Client::FlushCall : public grpc::ClientReadReactor<v1::FlushEvent> {
 public:
  FlushCall(Client* client, std::shared_ptr<FlushOp> op, std::shared_ptr<Connection> connection)
      : client_(client), op_(std::move(op)), connection_(std::move(connection)) {}

  void Start(uint64_t cursor) {
    request_.set_volume(op_->volume);
    request_.set_error_cursor(cursor);
    // One message per page would cost as much as the writes being flushed. Set even with
    // summary_only, which overrides it: a server older than that field then still groups.
    request_.set_group_page_events(true);
    if (op_->detail == FlushDetail::kSummaryOnly) request_.set_summary_only(true);
    client_->SetDeadline(&context_);
    connection_->stub->async()->Flush(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended; OnDone follows
    if (event_.has_page()) {
      TakePage(event_.page());
    } else if (event_.has_pages()) {
      for (const v1::PageCompletion& page : event_.pages().pages()) TakePage(page);
    } else if (event_.has_summary()) {
      const v1::FlushSummary& summary = event_.summary();
      result_.has_summary = true;
      result_.pages_written = summary.pages_written();
      result_.pages_failed = summary.pages_failed();
      result_.error_cursor = summary.error_cursor();
      summary_status_ =
          absl::Status(static_cast<absl::StatusCode>(summary.code()), summary.message());
      // The server has reported the errors up to this cursor to us: advance even when the
      // flush failed, so each error is reported once.
      client_->SetErrorCursor(op_->volume, summary.error_cursor());
    }
    StartRead(&event_);
  }

  void OnDone(const grpc::Status& status) override {
    // Once the summary is here, it is the flush's result: the call's status should say the
    // same, but the stream can still break after the summary (the server killed right then),
    // and a DATA_LOSS the summary reported must not become an UNAVAILABLE that a caller would
    // retry into an OK (the cursor has already moved past it).
    result_.status = result_.has_summary ? summary_status_ : FromGrpcStatus(status);
    client_->NoteAnswer(result_.has_summary ? absl::OkStatus() : result_.status);
    // A Flush that got its summary was the flush: its status is the flush's result, whatever
    // it is. One that ended before is followed (a DATA_LOSS never is: see Followable).
    const std::string owner = result_.has_summary ? "" : OwnerTrailer(context_);
    const bool follow = !result_.has_summary && client_->Followable(result_.status, owner);
    Client* const client = client_;
    std::shared_ptr<FlushOp> op = std::move(op_);
    std::shared_ptr<Connection> connection = std::move(connection_);
    auto result = std::make_shared<FlushResult>(std::move(result_));
    delete this;
    if (!follow) {
      // No reference to a channel may outlive `done` on this gRPC thread: once `done` ran, the
      // Client may go, and the last reference to a channel would then end it on the thread of
      // gRPC's callback queue, which joins that thread (ASan saw the double free).
      connection.reset();
      op->done(std::move(*result));
      return;
    }
    const absl::Status failed = result->status;
    FlushOp* const op_ptr = op.get();
    client->FollowAsync(op_ptr->volume, failed, owner, std::move(connection), &op_ptr->budget,
                        /*pace_retry=*/true, [client, op, result](absl::Status next) {
                          if (next.ok()) {
                            client->StartFlush(op);
                            return;
                          }
                          result->status = std::move(next);
                          op->done(std::move(*result));
                        });
  }

 private:
  void TakePage(const v1::PageCompletion& completion) {
    FlushPageResult page;
    page.page_index = completion.page_index();
    if (completion.code() != 0) {
      page.status =
          absl::Status(static_cast<absl::StatusCode>(completion.code()), completion.message());
    }
    page.failed_blocks.assign(completion.failed_blocks().begin(), completion.failed_blocks().end());
    if (op_->on_page) op_->on_page(page);
    result_.pages.push_back(std::move(page));
  }

  Client* const client_;
  std::shared_ptr<FlushOp> op_;
  std::shared_ptr<Connection> connection_;
  grpc::ClientContext context_;
  v1::FlushRequest request_;
  v1::FlushEvent event_;  // the read in progress (reads are serialized)
  FlushResult result_;
  absl::Status summary_status_;  // the summary's code and message, once has_summary
};

void Client::StartFlush(std::shared_ptr<FlushOp> op) {
  // The client's cursor as it is now: unchanged since the first attempt unless another Flush
  // of this client advanced it (then that one has reported what lies before).
  uint64_t cursor = op->first_cursor;
  std::shared_ptr<Connection> connection;
  {
    absl::MutexLock lock(&mu_);
    auto it = cursors_.find(op->volume);
    if (it != cursors_.end()) cursor = it->second;
    connection = connection_;
  }
  (new FlushCall(this, std::move(op), std::move(connection)))->Start(cursor);
}

void Client::FlushAsync(const std::string& volume, std::function<void(FlushResult)> done,
                        std::function<void(const FlushPageResult&)> on_page, FlushDetail detail) {
  absl::StatusOr<uint64_t> cursor = ErrorCursor(volume);
  if (!cursor.ok()) {
    FlushResult result;
    result.status = cursor.status();
    done(std::move(result));
    return;
  }
  auto op = std::make_shared<FlushOp>();
  op->volume = volume;
  op->done = std::move(done);
  op->on_page = std::move(on_page);
  op->detail = detail;
  op->first_cursor = *cursor;
  StartFlush(std::move(op));
}

absl::Status Client::Flush(const std::string& volume, FlushResult* result,
                           const std::function<void(const FlushPageResult&)>& on_page,
                           FlushDetail detail) {
  absl::Notification finished;
  FlushResult out;
  FlushAsync(
      volume,
      [&out, &finished](FlushResult flushed) {
        out = std::move(flushed);
        finished.Notify();
      },
      on_page, detail);
  finished.WaitForNotification();
  const absl::Status status = out.status;
  if (result != nullptr) *result = std::move(out);
  return status;
}

std::unique_ptr<PageWriter> Client::NewPageWriter(size_t window, size_t max_batch_bytes) {
  // The connection stays alive after a switch (retired_), as the stream needs.
  return std::make_unique<PageWriter>(this, CurrentConnection()->stub.get(), window,
                                      max_batch_bytes);
}

std::unique_ptr<PageReader> Client::NewPageReader(size_t window) {
  return std::make_unique<PageReader>(CurrentConnection()->stub.get(), window);
}

absl::Status Client::WriteRange(const std::string& volume, uint64_t first_page_index,
                                absl::string_view data, size_t window, bool fua) {
  absl::StatusOr<v1::VolumeInfo> info = GetVolumeInfo(volume);
  if (!info.ok()) return info.status();
  const size_t page_size = info->page_size_bytes();
  if (data.size() % info->block_size_bytes() != 0) {
    return absl::InvalidArgumentError(absl::StrCat("data: length ", data.size(),
                                                   " is not a multiple of the block size ",
                                                   info->block_size_bytes()));
  }
  // The pages (counted from first_page_index) still to write.
  std::vector<uint64_t> pages;
  for (uint64_t page = 0; page * page_size < data.size(); ++page) pages.push_back(page);
  for (int round = 1;; ++round) {
    const std::string server = target();
    absl::Mutex mu;
    absl::Status first_error;
    std::vector<uint64_t> failed;  // pages to write again after following the volume
    bool other_failure = false;    // a write failed in a way following cannot cure
    bool all_unavailable = true;
    // `info` is the first server's; one followed to may declare less, but never less than
    // kDefaultMaxBatchBytes.
    std::unique_ptr<PageWriter> writer =
        NewPageWriter(window, round == 1 ? PageWriter::MaxBatchBytesFor(*info)
                                         : PageWriter::kDefaultMaxBatchBytes);
    size_t sent = 0;
    for (; sent < pages.size(); ++sent) {
      const uint64_t page = pages[sent];
      absl::Status status = writer->Write(
          volume, first_page_index + page, 0, data.substr(page * page_size, page_size), fua,
          [&, page](const WriteResult& result) {
            if (result.status.ok()) return;
            absl::MutexLock lock(&mu);
            if (first_error.ok()) {
              first_error = absl::Status(
                  result.status.code(),
                  absl::StrCat("page ", result.page_index, ": ", result.status.message()));
            }
            failed.push_back(page);
            all_unavailable &= absl::IsUnavailable(result.status);
            other_failure |=
                !absl::IsUnavailable(result.status) && !absl::IsFailedPrecondition(result.status);
          });
      if (!status.ok()) break;  // Finish() below reports the stream's status
    }
    const absl::Status stream_status = writer->Finish();
    writer.reset();  // every callback has run
    absl::Status error;
    {
      absl::MutexLock lock(&mu);
      error = first_error.ok() ? stream_status : first_error;
      if (error.ok() && sent == pages.size()) return absl::OkStatus();
      if (error.ok()) {
        error = absl::UnavailableError(
            absl::StrCat("page ", first_page_index + pages[sent], ": the stream ended first"));
      }
      if (discovery_ == nullptr || other_failure || round >= kMaxSwitchesPerCall) return error;
      // Never sent: the stream ended first, with its error.
      failed.insert(failed.end(), pages.begin() + sent, pages.end());
      if (sent < pages.size()) all_unavailable &= absl::IsUnavailable(stream_status);
      std::sort(failed.begin(), failed.end());
      pages = std::move(failed);
    }
    absl::StatusOr<std::string> followed = FollowVolume(volume);
    // The server that refused writes (FAILED_PRECONDITION) still serves the volume: not a
    // failover, and writing again would only be refused again.
    if (!followed.ok() || (*followed == server && !all_unavailable)) return error;
  }
}

}  // namespace blockstore
