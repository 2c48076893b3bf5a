// Server bootstrap shared by every VirtualMLE service: a gRPC server with server
// reflection, the standard health service, the metrics interceptor, optional TLS,
// and graceful shutdown.
//
// Usage (in main, after BlockTerminationSignals()):
//   ASSIGN_OR_RETURN(auto metrics, MetricsServer::Start(...));
//   MyServiceImpl impl(...);
//   ASSIGN_OR_RETURN(auto host, ServiceHost::Start(options, {&impl}, metrics.get()));
//   WaitForTerminationSignal();
//   host->Shutdown();
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/metrics/metrics.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/impl/codegen/service_type.h"

namespace vmle {

// TLS for a server. Disabled unless cert_file and key_file are both set.
struct TlsOptions {
  // PEM server certificate chain and private key.
  std::string cert_file;
  std::string key_file;
  // PEM CA bundle; when set, clients must present a certificate it signed.
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// The credentials of a listening port: TLS when `tls` is enabled, and every call
// authorised against the tokens of `auth_tokens_file` when it is set (a warning is
// logged when it is not). INVALID_ARGUMENT naming the flag for an unreadable file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsOptions& tls,
                                                                             const std::string& auth_tokens_file);

struct ServerOptions {
  // Name in logs, metrics and the ready file: "agent", "memory", "worker".
  std::string service_name;
  // gRPC address, HOST:PORT; port 0 picks a free port.
  std::string listen = "0.0.0.0:50051";
  // Prometheus /metrics address; empty disables the endpoint.
  std::string metrics_listen = "0.0.0.0:9090";
  TlsOptions tls;
  // Bearer tokens by role (common/auth/token_table.h): a file of `role token` lines
  // or a directory with one file per role. Empty: authentication off, every caller
  // may call every method (a warning is logged at startup).
  std::string auth_tokens_file;
  // How long in-flight calls may run after shutdown starts.
  std::chrono::seconds shutdown_grace{10};
  // When set, a JSON file {"service","grpc_port","metrics_port","pid"} written once
  // the server is serving, so that scripts and tests using port 0 find the ports.
  std::string ready_file;
  // Largest request accepted.
  int max_receive_message_bytes = 32 << 20;
};

// A running gRPC server. Thread-safe; Shutdown is idempotent. With
// auth_tokens_file set, every call but health and reflection needs a bearer token
// whose role the method allows (common/auth/authorizer.h).
class ServiceHost {
 public:
  // Starts serving `services` (not owned; they must outlive the host). `metrics`
  // (may be null) gets the interceptor and must outlive the host. Marks every
  // service SERVING in the health service. UNAVAILABLE if the address cannot be
  // bound, INVALID_ARGUMENT for unreadable TLS or tokens files.
  static absl::StatusOr<std::unique_ptr<ServiceHost>> Start(
      const ServerOptions& options, const std::vector<grpc::Service*>& services,
      MetricsServer* metrics);

  // The same server with credentials the caller made (MakeServerCredentials) and
  // the metrics interceptor recording into `registry` (may be null). An empty
  // `options.listen` serves in-process only (InProcessChannel): the embedded
  // cluster of `vmle tune` uses this, so it gets exactly the services' reflection,
  // health, metrics and authorisation. `metrics_port` goes into the ready file.
  static absl::StatusOr<std::unique_ptr<ServiceHost>> StartWithCredentials(
      const ServerOptions& options, std::shared_ptr<grpc::ServerCredentials> credentials,
      const std::vector<grpc::Service*>& services, prometheus::Registry* registry, int metrics_port);

  ServiceHost(const ServiceHost&) = delete;
  ServiceHost& operator=(const ServiceHost&) = delete;
  ~ServiceHost();

  // The bound port; 0 when serving in-process only.
  int port() const { return port_; }
  // A channel to this server that bypasses the network (and authorisation).
  std::shared_ptr<grpc::Channel> InProcessChannel();
  // Health status of every service: NOT_SERVING while a dependency is down.
  // Ignored after Shutdown.
  void SetServing(bool serving);
  // Sets every service NOT_SERVING, lets in-flight calls finish within the grace
  // period, then cancels the rest.
  void Shutdown();

 private:
  ServiceHost(ServerOptions options, std::unique_ptr<grpc::Server> server, int port);

  ServerOptions options_;
  std::unique_ptr<grpc::Server> server_;
  int port_;
  bool shut_down_ = false;
};

}  // namespace vmle
