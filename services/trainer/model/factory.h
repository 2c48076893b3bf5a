// Builds the backbone a TrainConfig names.
#pragma once

#include <memory>

#include "services/trainer/model/recommender.h"
#include "services/trainer/util/configuration.h"

namespace vmle::trainer {

// `config` must be valid and config.model.num_items set.
std::shared_ptr<SequentialRecommender> MakeModel(const TrainConfig& config);

}  // namespace vmle::trainer
