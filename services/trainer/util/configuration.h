// The trainer's side of the configuration schema (common/space): the schema's types
// under the trainer's namespace, and the conversions between the schema's
// absl::Status and the trainer's Status (util/status.h) at this boundary. Trainer code
// calls the schema's functions (space::ApplySettings, space::ValidateConfiguration,
// ...) and converts their results with FromAbsl.
//
// Thread-safety: value types and pure functions.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/space/model_config.h"
#include "common/space/search_space.h"
#include "common/space/train_config.h"
#include "services/trainer/util/status.h"

namespace vmle::trainer {

using space::Backbone;
using space::Batching;
using space::FeedForwardKind;
using space::ItemCfNormKind;
using space::LossKind;
using space::ModelConfig;
using space::OptimizerKind;
using space::PoolingKind;
using space::PositionKind;
using space::Settings;
using space::Value;
using space::TrainConfig;
using space::TrainTargets;
using space::UsesAbsolutePositions;
using space::UsesRelativeBias;

// The same code (both are the canonical gRPC codes) and message.
inline Status FromAbsl(const absl::Status& status) {
  if (status.ok()) return OkStatus();
  return Status(static_cast<StatusCode>(status.code()), std::string(status.message()));
}
template <typename T>
StatusOr<T> FromAbsl(absl::StatusOr<T> value) {
  if (!value.ok()) return FromAbsl(value.status());
  return *std::move(value);
}
inline absl::Status ToAbsl(const Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.code()), status.message());
}

}  // namespace vmle::trainer
