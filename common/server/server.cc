#include "common/server/server.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/auth/authorizer.h"
#include "common/auth/server_credentials.h"
#include "common/auth/token_table.h"
#include "common/logging/logging.h"
#include "common/server/malformed_request.h"
#include "common/status/status_macros.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace vmle {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read '", path, "'"));
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsOptions& tls,
                                                                             const std::string& auth_tokens_file) {
  std::optional<auth::ServerTlsPems> pems;
  if (tls.enabled()) {
    if (tls.cert_file.empty() || tls.key_file.empty()) {
      return absl::InvalidArgumentError("--tls_cert and --tls_key must be given together");
    }
    pems.emplace();
    ASSIGN_OR_RETURN(pems->cert_chain, ReadFile(tls.cert_file, "--tls_cert"));
    ASSIGN_OR_RETURN(pems->private_key, ReadFile(tls.key_file, "--tls_key"));
    if (!tls.client_ca_file.empty()) {
      ASSIGN_OR_RETURN(pems->client_ca, ReadFile(tls.client_ca_file, "--tls_client_ca"));
    }
  }
  if (!auth_tokens_file.empty()) {
    auto tokens = auth::TokenTable::Load(auth_tokens_file);
    if (!tokens.ok()) return absl::InvalidArgumentError(absl::StrCat("--auth_tokens_file: ", tokens.status().message()));
    log::Info("authentication on", {{"tokens", std::to_string(tokens->size())}});
    auto authorizer = std::make_shared<const auth::Authorizer>(*std::move(tokens), auth::DefaultPolicy());
    return auth::MakeAuthorizingServerCredentials(std::move(authorizer), std::move(pems));
  }
  log::Warn("authentication off: no --auth_tokens_file, so any caller may call any method");
  if (!pems.has_value()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({std::move(pems->private_key), std::move(pems->cert_chain)});
  if (!pems->client_ca.empty()) {
    ssl.pem_root_certs = std::move(pems->client_ca);
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

namespace {

absl::Status WriteReadyFile(const ServerOptions& options, int port, int metrics_port) {
  const std::string tmp = options.ready_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "{\"service\":\"" << options.service_name << "\",\"grpc_port\":" << port
        << ",\"metrics_port\":" << metrics_port << ",\"pid\":" << ::getpid() << "}\n";
    if (!out) {
      return absl::InvalidArgumentError(
          absl::StrCat("--ready_file: cannot write '", options.ready_file, "'"));
    }
  }
  if (std::rename(tmp.c_str(), options.ready_file.c_str()) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ready_file: cannot rename into '", options.ready_file, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceHost>> ServiceHost::Start(
    const ServerOptions& options, const std::vector<grpc::Service*>& services,
    MetricsServer* metrics) {
  ASSIGN_OR_RETURN(auto credentials, MakeServerCredentials(options.tls, options.auth_tokens_file));
  return StartWithCredentials(options, std::move(credentials), services,
                              metrics != nullptr ? &metrics->registry() : nullptr,
                              metrics != nullptr ? metrics->port() : 0);
}

absl::StatusOr<std::unique_ptr<ServiceHost>> ServiceHost::StartWithCredentials(
    const ServerOptions& options, std::shared_ptr<grpc::ServerCredentials> credentials,
    const std::vector<grpc::Service*>& services, prometheus::Registry* registry, int metrics_port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // gRPC's health service is built without the C++ protobuf classes, so nothing
  // would put grpc.health.v1's descriptor in the generated pool that reflection
  // answers from: grpcurl-style Health/Check through reflection needs it linked.
  static const google::protobuf::Descriptor* const health_descriptor =
      grpc::health::v1::HealthCheckRequest::descriptor();
  (void)health_descriptor;

  grpc::ServerBuilder builder;
  int port = 0;
  if (!options.listen.empty()) builder.AddListeningPort(options.listen, credentials, &port);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  // A second process on a busy port must fail, not silently share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(MakeMalformedRequestInterceptorFactory());
  if (registry != nullptr) interceptors.push_back(MakeGrpcMetricsInterceptorFactory(*registry));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || (!options.listen.empty() && port == 0)) {
    return absl::UnavailableError(absl::StrCat(
        "--listen: cannot serve gRPC on '", options.listen,
        "' (is the port in use or the address wrong? use HOST:PORT, port 0 for any)"));
  }
  server->GetHealthCheckService()->SetServingStatus(true);
  std::unique_ptr<ServiceHost> host(new ServiceHost(options, std::move(server), port));
  if (!options.ready_file.empty()) {
    RETURN_IF_ERROR(WriteReadyFile(options, port, metrics_port));
  }
  if (!options.listen.empty()) {
    log::Info("serving", {{"service", options.service_name},
                          {"grpc_port", std::to_string(port)},
                          {"metrics_port", std::to_string(metrics_port)},
                          {"tls", options.tls.enabled() ? "on" : "off"},
                          {"auth", options.auth_tokens_file.empty() ? "off" : "on"}});
  }
  return host;
}

std::shared_ptr<grpc::Channel> ServiceHost::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

void ServiceHost::SetServing(bool serving) {
  if (!shut_down_) server_->GetHealthCheckService()->SetServingStatus(serving);
}

ServiceHost::ServiceHost(ServerOptions options, std::unique_ptr<grpc::Server> server, int port)
    : options_(std::move(options)), server_(std::move(server)), port_(port) {}

ServiceHost::~ServiceHost() { Shutdown(); }

void ServiceHost::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  log::Info("shutting down", {{"grace_seconds", std::to_string(options_.shutdown_grace.count())}});
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(std::chrono::system_clock::now() + options_.shutdown_grace);
  server_->Wait();
  if (!options_.ready_file.empty()) std::remove(options_.ready_file.c_str());
  log::Info("stopped");
}

}  // namespace vmle
