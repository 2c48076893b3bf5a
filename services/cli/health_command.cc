#include "services/cli/health_command.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace vmle::cli {

absl::Status RunHealth(const HealthOptions& options, std::ostream& out) {
  int unhealthy = 0;
  for (const std::string& target : options.targets) {
    auto stub = grpc::health::v1::Health::NewStub(
        auth::MakeClientChannel(target, options.security));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(static_cast<int64_t>(options.timeout_seconds * 1000)));
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status status = stub->Check(&context, {}, &response);
    if (!status.ok()) {
      ++unhealthy;
      out << target << " UNREACHABLE (" << status.error_message() << ")\n";
      continue;
    }
    const auto& name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
    if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) ++unhealthy;
    out << target << " " << name << "\n";
  }
  if (unhealthy > 0) {
    return absl::UnavailableError(absl::StrCat(unhealthy, " of ", options.targets.size(),
                                               " services are not serving"));
  }
  return absl::OkStatus();
}

}  // namespace vmle::cli
