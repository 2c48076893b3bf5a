// The one conversion between absl::Status and grpc::Status. Codes are numerically
// identical in both libraries (the canonical codes), so the conversion keeps the
// code in both directions and the message exactly, except that ToGrpcStatus cuts a
// message longer than 1 KB (TruncateForMessage) so no reply overflows metadata limits.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/status.h"

namespace vmle {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// A service method's reply: the value moved into `response`, or the error.
template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace vmle
