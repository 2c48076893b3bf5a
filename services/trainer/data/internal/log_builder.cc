#include "services/trainer/data/internal/format_readers.h"

namespace vmle::trainer::internal {

bool LogBuilder::Add(std::string_view user, std::string_view item, int64_t timestamp) {
  const int32_t u = users_.Intern(user);
  const int32_t i = items_.Intern(item);
  if (u < 0 || i < 0) return false;
  interactions_.push_back({u, i, timestamp});
  return true;
}

InteractionLog LogBuilder::Finish() && {
  InteractionLog log;
  log.num_user_keys = users_.size();
  log.num_item_keys = items_.size();
  log.interactions = std::move(interactions_);
  log.item_order = ItemIdOrder::kFirstAppearance;
  return log;
}

Status TooManyKeysError(const std::string& path, int64_t line) {
  return ResourceExhaustedError(path + ":" + std::to_string(line) +
                                ": too many distinct users or items (limit 2^31 - 1)");
}

}  // namespace vmle::trainer::internal
