#include "services/trainer/model/factory.h"

#include "services/trainer/model/hstu.h"
#include "services/trainer/model/sasrec.h"

namespace vmle::trainer {

std::shared_ptr<SequentialRecommender> MakeModel(const TrainConfig& config) {
  switch (config.backbone) {
    case Backbone::kSASRec:
      return std::make_shared<SASRecImpl>(config.model);
    case Backbone::kHSTU:
      return std::make_shared<HSTUImpl>(config.model);
  }
  return nullptr;
}

}  // namespace vmle::trainer
