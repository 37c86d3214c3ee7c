#include "server/fuzz/service_harness.h"

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "server/fuzz/fixed_volumes.h"
#include "server/io/io_backend_factory.h"
#include "server/service/message_limits.h"
#include "server/service/service_state.h"

namespace blockstore {
namespace {

ServiceHarness* harness = nullptr;

void StopAtExit() {
  // Runs while every server thread is still alive; static destructors come after it.
  harness->Stop();
}

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(20);
}

}  // namespace

ServiceHarness& ServiceHarness::Get() {
  if (harness == nullptr) {
    harness = new ServiceHarness();
    harness->Start();
    std::atexit(&StopAtExit);
  }
  return *harness;
}

void ServiceHarness::Start() {
  if (const char* every = std::getenv("SERVICE_FUZZER_CHECK_EVERY")) {
    check_every_ = std::max<uint64_t>(1, std::strtoull(every, nullptr, 10));
  }
  const char* trace = std::getenv("SERVICE_FUZZER_TRACE");
  trace_ = trace != nullptr && std::string(trace) == "1";
  // bazel test sets TEST_TMPDIR; tools/fuzz.sh sets TMPDIR to its work directory.
  const char* tmp = std::getenv("TEST_TMPDIR");
  if (tmp == nullptr || *tmp == '\0') tmp = std::getenv("TMPDIR");
  std::string name_template =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/service_fuzzer.XXXXXX");
  std::vector<char> buffer(name_template.begin(), name_template.end());
  buffer.push_back('\0');
  CHECK(mkdtemp(buffer.data()) != nullptr)
      << "mkdtemp " << name_template << ": " << std::strerror(errno);
  data_dir_ = buffer.data();

  absl::StatusOr<std::unique_ptr<IoBackend>> backend = CreateIoBackend("auto");
  CHECK(backend.ok()) << backend.status();
  backend_ = *std::move(backend);

  VolumeOptions options;
  options.cache_bytes = 32 << 20;
  options.dirty_limit_bytes = 16 << 20;
  options.dirty_background_bytes = 4 << 20;
  options.dirty_expire = absl::Milliseconds(200);
  options.flusher_interval = absl::Milliseconds(50);
  options.prefault_cache = false;  // 32 MiB written at every start is time no input uses
  options.thin = true;             // a terabyte volume must not reserve a terabyte
  absl::StatusOr<std::unique_ptr<VolumeRegistry>> registry =
      VolumeRegistry::Open(data_dir_, options, backend_.get());
  CHECK(registry.ok()) << registry.status();
  registry_ = *std::move(registry);

  BlockServiceOptions service_options;
  service_options.io_backend_name = std::string(backend_->Name());
  // The least limit a server declares: the programs' messages are built around it (68 KiB).
  service_options.max_message_bytes = kMinMaxMessageBytes;
  service_ = std::make_unique<BlockServiceImpl>(registry_.get(), nullptr, service_options);
  grpc::ServerBuilder builder;
  builder.RegisterService(service_.get());
  // As blockstored's BlockServer does: the declared limit is the one enforced.
  builder.SetMaxReceiveMessageSize(static_cast<int>(service_options.max_message_bytes));
  server_ = builder.BuildAndStart();
  CHECK(server_ != nullptr) << "the gRPC server did not start";
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(-1);
  channel_args.SetMaxSendMessageSize(-1);  // requests over the server's limit must reach it
  stub_ = v1::BlockStore::NewStub(server_->InProcessChannel(channel_args));
  CreateFixedVolumes();
  LOG(INFO) << "service fuzzer: data directory " << data_dir_ << ", io backend "
            << backend_->Name();
}

void ServiceHarness::CreateFixedVolumes() {
  for (const FixedVolume& fixed : kFixedVolumes) {
    v1::CreateVolumeRequest request;
    request.set_name(fixed.name);
    request.set_size_bytes(fixed.size_bytes);
    request.set_page_size_bytes(fixed.page_size_bytes);
    request.set_block_size_bytes(fixed.block_size_bytes);
    v1::VolumeInfo info;
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    const grpc::Status status = stub_->CreateVolume(&context, request, &info);
    CHECK(status.ok()) << "CreateVolume " << fixed.name << ": " << status.error_message();
    model_.Add(fixed.name,
               Geometry{fixed.size_bytes, fixed.page_size_bytes, fixed.block_size_bytes});
  }
  const Geometry& witness = *model_.Find(kWitnessVolume);
  for (uint64_t page = 0; page < witness.page_count(); ++page) {
    const uint64_t start = page * witness.page_size_bytes;
    const uint64_t length = std::min<uint64_t>(witness.page_size_bytes, witness.size_bytes - start);
    v1::WritePageRequest request;
    request.set_volume(kWitnessVolume);
    request.set_page_index(page);
    std::string* data = request.mutable_data();
    for (uint64_t i = 0; i < length; ++i) data->push_back(WitnessByte(start + i));
    v1::WritePageResponse response;
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    const grpc::Status status = stub_->WritePage(&context, request, &response);
    CHECK(status.ok()) << "witness page " << page << ": " << status.error_message();
    model_.ApplyWrite(request);
  }
  v1::FlushRequest request;
  request.set_volume(kWitnessVolume);
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  std::unique_ptr<grpc::ClientReader<v1::FlushEvent>> reader = stub_->Flush(&context, request);
  v1::FlushEvent event;
  while (reader->Read(&event)) {
  }
  const grpc::Status status = reader->Finish();
  CHECK(status.ok()) << "witness flush: " << status.error_message();
}

void ServiceHarness::WaitForCallsToEnd() {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (service_->calls_in_flight() > 0) {
    CHECK(absl::Now() < deadline) << "the server still has " << service_->calls_in_flight()
                                  << " calls in flight 20 s after the client's last call ended";
    absl::SleepFor(absl::Milliseconds(1));
  }
}

void ServiceHarness::Stop() {
  stub_.reset();
  service_->BeginShutdown();
  std::vector<std::string> failures;
  const absl::Status flushed = registry_->StopAndFlushAll(&failures);
  CHECK(flushed.ok()) << "the shutdown flush lost data: " << flushed << " (" << failures.size()
                      << " volumes)";
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  server_->Wait();
  server_.reset();
  service_.reset();
  registry_.reset();
  backend_->Shutdown();
  backend_.reset();
  std::error_code error;
  std::filesystem::remove_all(data_dir_, error);
  LOG_IF(WARNING, error) << "removing " << data_dir_ << ": " << error.message();
}

}  // namespace blockstore
