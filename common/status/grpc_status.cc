#include "common/status/grpc_status.h"

#include <string>

#include "common/status/message.h"

namespace vmle {
namespace {

// Both enums enumerate the same 17 canonical codes with the same numbers.
static_assert(static_cast<int>(absl::StatusCode::kUnauthenticated) ==
              static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));
static_assert(static_cast<int>(absl::StatusCode::kDataLoss) ==
              static_cast<int>(grpc::StatusCode::DATA_LOSS));

bool IsCanonical(int code) { return code >= 0 && code <= 16; }

// The last guard against a message that quotes unbounded input: whatever a handler
// built, what goes on the wire fits comfortably in every client's metadata limit.
constexpr size_t kMaxWireMessageBytes = 1024;

std::string WireMessage(const absl::Status& status) {
  return TruncateForMessage(status.message(), kMaxWireMessageBytes);
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = static_cast<int>(status.code());
  if (!IsCanonical(code)) {
    return grpc::Status(grpc::StatusCode::UNKNOWN, WireMessage(status));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(code), WireMessage(status));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const int code = static_cast<int>(status.error_code());
  if (!IsCanonical(code)) return absl::UnknownError(status.error_message());
  return absl::Status(static_cast<absl::StatusCode>(code), status.error_message());
}

}  // namespace vmle
