#include "server/service/block_server.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/impl/server_builder_plugin.h"
#include "server/common/status_macros.h"
#include "server/io/io_backend_factory.h"
#include "server/security/listen_address.h"
#include "server/service/transport_limits.h"
#include "server/volume/rbd_volume_registry.h"

namespace blockstore {
namespace {

// Whether one ServerBuilder serves reflection. Linking gRPC's reflection library registers its
// plugin for every builder of the process (a static initializer), so one server's choice has to
// be made per builder: this removes the plugin, and adds one back when reflection is wanted.
class ReflectionOption : public grpc::ServerBuilderOption {
 public:
  explicit ReflectionOption(bool serve) : serve_(serve) {}
  void UpdateArguments(grpc::ChannelArguments* args) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    const std::string name = grpc::reflection::ProtoServerReflectionPlugin().name();
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [&name](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
                                    return p->name() == name;
                                  }),
                   plugins->end());
    if (serve_)
      plugins->push_back(std::make_unique<grpc::reflection::ProtoServerReflectionPlugin>());
  }

 private:
  const bool serve_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BlockServer>> BlockServer::Start(const ServerOptions& options) {
  return Start(options, IoBackendWrapper());
}

absl::StatusOr<std::unique_ptr<BlockServer>> BlockServer::Start(
    const ServerOptions& options, const IoBackendWrapper& wrap_io_backend) {
  RETURN_IF_ERROR(ValidateServerOptions(options));

  if (options.store == "dir") {
    std::error_code error;
    std::filesystem::create_directories(options.data_dir, error);
    if (error) {
      return absl::FailedPreconditionError(
          absl::StrCat("data_dir: cannot create \"", options.data_dir, "\": ", error.message()));
    }
  }

  std::unique_ptr<BlockServer> server(new BlockServer());
  ASSIGN_OR_RETURN(server->backend_, CreateIoBackend(options.io_backend));
  if (wrap_io_backend) {
    ASSIGN_OR_RETURN(server->backend_, wrap_io_backend(std::move(server->backend_)));
  }
  if (options.store == "rbd") {
    // Each volume gets an RbdBackend of its own; the server's backend stays unused.
    ASSIGN_OR_RETURN(server->registry_, RbdVolumeRegistry::Open(options.rbd, options.volume));
  } else {
    ASSIGN_OR_RETURN(server->registry_, VolumeRegistry::Open(options.data_dir, options.volume,
                                                             server->backend_.get()));
  }
  if (!options.metrics_listen.empty()) {
    ASSIGN_OR_RETURN(
        server->metrics_,
        ServerMetrics::Start(options.metrics_listen, server->registry_.get(), options.volume));
  }

  ASSIGN_OR_RETURN(server->credentials_, ServerCredentials::Create(options.tls));
  const bool access_control = server->credentials_->mutual_tls() ||
                              !options.access.policy_file.empty() ||
                              !options.access.tokens_file.empty();
  if (access_control) {
    ASSIGN_OR_RETURN(server->authorizer_,
                     Authorizer::Create(options.access, server->credentials_->mutual_tls()));
  }
  server->client_limits_ = std::make_unique<ClientLimits>(options.client_limits);

  BlockServiceOptions service_options;
  service_options.max_message_bytes = options.max_message_bytes;
  service_options.io_backend_name =
      options.store == "rbd" ? std::string("rbd") : std::string(server->backend_->Name());
  service_options.authorizer = server->authorizer_.get();
  service_options.client_limits = server->client_limits_.get();
  server->service_ = std::make_unique<BlockServiceImpl>(
      server->registry_.get(), server->metrics_.get(), std::move(service_options));

  grpc::EnableDefaultHealthCheckService(true);
  // Reflection describes the API and answers before any handler of ours could check a caller.
  // With a policy it must only answer authenticated callers: under mutual TLS the handshake
  // already refused everyone without a certificate; with tokens alone it cannot check them, so
  // it is not served (docs/security.md).
  server->serves_reflection_ =
      options.access.policy_file.empty() || server->credentials_->mutual_tls();
  if (!server->credentials_->tls() && !IsLocalOnlyListen(options.listen)) {
    // ValidateServerOptions let it through: --allow_insecure_remote was given.
    LOG(WARNING) << "--allow_insecure_remote: " << options.listen
                 << " serves plaintext gRPC; anyone who can reach it can read, overwrite and "
                    "delete every volume";
  }
  grpc::ServerBuilder builder;
  builder.SetOption(std::make_unique<ReflectionOption>(server->serves_reflection_));
  int port = 0;
  builder.AddListeningPort(options.listen, server->credentials_->credentials(), &port);
  builder.RegisterService(server->service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  // gRPC binds with SO_REUSEPORT by default: a second blockstored on the same port would then
  // start and take half the connections. Binding must fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  ApplyTransportLimits(TransportLimits(), &builder);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || (port == 0 && options.listen.rfind("unix:", 0) != 0)) {
    // The destructor undoes what started.
    server->server_.reset();
    return absl::UnavailableError(absl::StrCat("listen: cannot bind \"", options.listen, "\""));
  }
  if (grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService()) {
    // "" (the whole server) is SERVING already; name the service too, for probes that ask.
    health->SetServingStatus(v1::BlockStore::service_full_name(), true);
  }
  server->address_ = BoundAddress(options.listen, port);
  std::string advertised = options.advertise_address;
  if (advertised.empty()) {
    char hostname[256] = {};
    ::gethostname(hostname, sizeof(hostname) - 1);
    advertised = DefaultAdvertiseAddress(server->address_, hostname);
  }
  server->registry_->SetAdvertisedAddress(advertised);
  LOG(INFO) << "blockstored serving " << server->address_ << " " << server->registry_->Describe()
            << " io_backend " << (options.store == "rbd" ? "rbd" : server->backend_->Name())
            << " volumes " << server->registry_->List().size();
  return server;
}

BlockServer::~BlockServer() {
  if (!shut_down_ && server_ != nullptr) {
    std::vector<std::string> failures;
    const absl::Status status = Shutdown(absl::Seconds(5), &failures);
    if (!status.ok()) LOG(ERROR) << "shutdown lost data: " << status;
  } else if (!shut_down_ && registry_ != nullptr) {
    // Start failed after the volumes were opened: write back what reopening found.
    service_.reset();
    const absl::Status status = registry_->StopAndFlushAll();
    if (!status.ok()) LOG(ERROR) << "shutdown lost data: " << status;
  }
  server_.reset();
  service_.reset();
  metrics_.reset();
  registry_.reset();
  if (backend_ != nullptr) backend_->Shutdown();
}

absl::Status BlockServer::Shutdown(absl::Duration grace, std::vector<std::string>* failures) {
  if (shut_down_) return absl::OkStatus();
  shut_down_ = true;
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  service_->BeginShutdown();
  LOG(INFO) << "shutdown: new writes are refused; flushing every volume";
  std::vector<std::string> local_failures;
  const absl::Status status = registry_->StopAndFlushAll(&local_failures);
  for (const std::string& line : local_failures) LOG(ERROR) << "shutdown: not written: " << line;
  if (status.ok()) {
    LOG(INFO) << "shutdown: every dirty page is written back";
  } else {
    LOG(ERROR) << "shutdown: data was lost: " << status;
  }
  if (failures != nullptr) *failures = std::move(local_failures);
  // gRPC's Shutdown(deadline) waits for every connection to close, not only for the calls:
  // a client that keeps an idle channel open (most do) held the exit for the whole grace. So
  // the calls in flight are waited for here, up to `grace`, and then the server shuts down at
  // once, disconnecting idle connections (a call arriving just then is cancelled).
  const absl::Time deadline = absl::Now() + grace;
  while (service_->calls_in_flight() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  server_->Shutdown(absl::ToChronoTime(absl::Now()));
  server_->Wait();
  return status;
}

}  // namespace blockstore
