// Prometheus metrics for every VirtualMLE process (prometheus-cpp).
//
// A MetricsServer owns the process's registry and, when given an address, the HTTP
// endpoint that serves it at /metrics. Components register their own families in
// registry(); the gRPC interceptor from MakeGrpcMetricsInterceptorFactory counts
// every call by service, method and status code:
//   vmle_grpc_server_started_total{grpc_service,grpc_method}
//   vmle_grpc_server_handled_total{grpc_service,grpc_method,grpc_code}
//   vmle_grpc_server_handling_seconds{grpc_service,grpc_method}  (histogram)
// plus vmle_build_info{service,version} = 1.
//
// Thread-safety: the registry and its metrics are safe to use from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace vmle {

class MetricsServer {
 public:
  // Serves /metrics on `listen` ("HOST:PORT"; port 0 picks a free one). An empty
  // `listen` or "off" keeps the registry without serving it (embedded use, tests).
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                              std::string_view service,
                                                              std::string_view version);

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  ~MetricsServer();

  prometheus::Registry& registry() { return *registry_; }
  // The bound port, or 0 when not serving.
  int port() const { return port_; }

 private:
  MetricsServer() = default;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

// An interceptor factory recording the vmle_grpc_server_* families in `registry`,
// which must outlive every server using the factory.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeGrpcMetricsInterceptorFactory(prometheus::Registry& registry);

// "OK", "INVALID_ARGUMENT", ... for a gRPC status code.
std::string_view GrpcCodeName(grpc::StatusCode code);

}  // namespace vmle
