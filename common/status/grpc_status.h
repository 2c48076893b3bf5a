// The one conversion between absl::Status and grpc::Status. Codes are numerically
// identical in both libraries (the canonical codes), so the conversion keeps the
// code and the message exactly, in both directions.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace vmle {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace vmle
