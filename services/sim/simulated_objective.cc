#include "services/sim/simulated_objective.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "common/space/space_proto.h"
#include "services/agent/planner/space_sampling.h"

namespace vmle::agent::sim {
namespace {

using space::ParamSpec;

constexpr int kAscentSweeps = 4;
constexpr int kAscentPoints = 41;
// lr this many decades above its optimum diverges.
constexpr double kDivergeDecades = 1.2;

const space::SearchSpace& Space() { return space::DefaultSearchSpace(space::Backbone::kSASRec); }

// The configuration's knobs as numbers and names, defaults filled in.
struct Knobs {
  double log_lr, log_batch, log_hidden, dropout, attn_dropout, blocks, heads, max_len, log_wd;
  double log_negatives, popularity, transition, recent_k, pooling_k, max_epochs, patience;
  std::string optimizer, loss, targets, pooling, feed_forward, positions;
  bool tie, pre_norm;
};

// The configuration's value of `name`, or the space's default when it has none.
space::Value ConfigValue(const vmle::v1::Configuration& config, const std::string& name) {
  const ParamSpec* p = Space().Find(name);
  auto it = config.values().find(name);
  if (it != config.values().end() && it->second.kind_case() != vmle::v1::ParamValue::KIND_NOT_SET) {
    return space::FromProto(it->second);
  }
  return p == nullptr ? space::Value() : p->default_value;
}

std::string Text(const vmle::v1::Configuration& config, const std::string& name) {
  return space::ValueText(ConfigValue(config, name));
}

double Number(const vmle::v1::Configuration& config, const std::string& name) {
  double v = ConfigValue(config, name).number().value_or(0.0);
  if (const ParamSpec* p = Space().Find(name); p != nullptr) v = std::clamp(v, p->min, p->max);
  return v;
}

Knobs ReadKnobs(const vmle::v1::Configuration& c) {
  Knobs k;
  k.log_lr = std::log10(Number(c, "lr"));
  k.log_batch = std::log2(Number(c, "batch_size") / 256.0);
  k.log_hidden = std::log2(Number(c, "hidden_dim"));
  k.dropout = Number(c, "dropout");
  k.attn_dropout = Number(c, "attn_dropout");
  k.blocks = Number(c, "num_blocks");
  k.heads = Number(c, "num_heads");
  k.max_len = Number(c, "max_len");
  k.log_wd = std::log10(Number(c, "weight_decay"));
  k.log_negatives = std::log2(Number(c, "num_negatives"));
  k.popularity = Number(c, "popularity_prior_weight");
  k.transition = Number(c, "transition_prior_weight");
  k.recent_k = Number(c, "prior_recent_k");
  k.pooling_k = Number(c, "pooling_k");
  k.max_epochs = Number(c, "max_epochs");
  k.patience = Number(c, "early_stop_patience");
  k.optimizer = Text(c, "optimizer");
  k.loss = Text(c, "loss");
  k.targets = Text(c, "train_targets");
  k.pooling = Text(c, "pooling");
  k.feed_forward = Text(c, "feed_forward");
  k.positions = Text(c, "positions");
  k.tie = Text(c, "tie_embeddings") == "true";
  k.pre_norm = Text(c, "pre_norm") == "true";
  return k;
}

bool ShortSequences(const SimulatedDataset& d) { return d.mean_length < 10; }
bool LargeCatalogue(const SimulatedDataset& d) { return d.num_items > 5000; }

// The best log10 lr: higher with larger batches, lower for wider models.
double BestLogLr(const Knobs& k, const SimulatedDataset& d) {
  return -3.0 + d.lr_shift + 0.15 * k.log_batch - 0.1 * (k.log_hidden - 7.0);
}

double BestLogHidden(const SimulatedDataset& d) { return 6.5 + d.hidden_shift + (ShortSequences(d) ? 0.0 : 0.8); }

// Wider models want more dropout; long sequences less.
double BestDropout(const Knobs& k, const SimulatedDataset& d) {
  const double best = 0.35 + d.dropout_shift + 0.06 * (k.log_hidden - 7.0) - (ShortSequences(d) ? 0.0 : 0.12);
  return std::clamp(best, 0.05, 0.8);
}

double Square(double x) { return x * x; }

// A gain that is 0 at w = 0, `gain` at w = best and negative beyond 2 * best.
double PriorGain(double w, double best, double gain) {
  const double r = w / best;
  return std::max(-0.5, gain * (2.0 * r - r * r));
}

double OptimisationScore(const Knobs& k, const SimulatedDataset& d) {
  const double best_wd = k.optimizer == "adamw" ? -2.5 : -5.5;
  return -0.5 * Square(k.log_lr - BestLogLr(k, d)) - 0.02 * Square(k.log_batch) -
         0.02 * Square(k.log_wd - best_wd) + (k.optimizer == "adamw" ? 0.01 : 0.0);
}

double ArchitectureScore(const Knobs& k, const SimulatedDataset& d) {
  const bool short_seq = ShortSequences(d);
  double s = -0.06 * Square(k.log_hidden - BestLogHidden(d)) - 1.5 * Square(k.dropout - BestDropout(k, d)) -
             0.4 * Square(k.attn_dropout - 0.25) - 0.03 * Square(k.blocks - (short_seq ? 2.0 : 3.0)) -
             0.01 * std::abs(std::log2(k.heads) - 1.0);
  const double need = 4.0 * d.mean_length;
  s -= 0.15 * std::max(0.0, std::log2(need / k.max_len)) + 0.01 * std::max(0.0, std::log2(k.max_len / (2 * need)));
  if (k.tie) s += short_seq ? 0.06 : 0.0;
  if (!k.tie) s += short_seq ? 0.0 : 0.01;
  if (k.pooling == "mean") s -= 0.08;
  if (k.pooling == "last_k_mean") s += (short_seq ? 0.01 : -0.03) - 0.01 * std::abs(k.pooling_k - 2.0);
  if (k.feed_forward == "swiglu") s += 0.01;
  if (k.positions == "rope") s += short_seq ? 0.0 : 0.02;
  if (k.positions == "none") s -= short_seq ? 0.02 : 0.08;
  s += k.pre_norm ? (k.blocks >= 3 ? 0.02 : -0.005) : 0.0;
  return s;
}

double LossScore(const Knobs& k, const SimulatedDataset& d) {
  double s = k.targets == "last_position" ? -0.12 : 0.0;
  const bool large = LargeCatalogue(d);
  if (k.loss == "sampled_softmax") {
    const double best = std::min(12.0, std::log2(static_cast<double>(d.num_items)) / 1.4);
    s += (large ? 0.0 : -0.02) - 0.015 * Square(k.log_negatives - best);
  } else if (k.loss == "full_softmax") {
    s += large ? -0.04 : 0.0;
  } else {
    s += large ? -0.15 : -0.1;
  }
  return s;
}

// Training-split priors: strong on short sequences around weight 0.2.
double PriorScore(const Knobs& k, const SimulatedDataset& d) {
  const bool short_seq = ShortSequences(d);
  const double best = 0.2 + d.prior_shift;
  double s = PriorGain(k.popularity, best, short_seq ? 0.05 : 0.005) +
             PriorGain(k.transition, short_seq ? best : 0.1, short_seq ? 0.08 : 0.01);
  if (k.transition > 0) s -= 0.01 * std::abs(k.recent_k - 2.0) * std::min(1.0, k.transition / 0.1);
  return s;
}

// The shape of a learning curve: asymptote, time constant, overfitting per epoch.
struct Curve {
  double level;
  double tau;
  double overfit;
  bool diverged;
};

Curve CurveOf(const Knobs& k, const SimulatedDataset& d) {
  const double score = OptimisationScore(k, d) + ArchitectureScore(k, d) + LossScore(k, d) + PriorScore(k, d);
  const double lr_excess = k.log_lr - BestLogLr(k, d);
  Curve c;
  c.level = d.peak * std::exp(score);
  c.tau = std::clamp(1.5 * std::pow(10.0, -0.6 * lr_excess) * std::pow(2.0, 0.3 * std::max(0.0, k.log_batch)) *
                         (k.targets == "last_position" ? 1.5 : 1.0),
                     0.5, 60.0);
  c.overfit = 0.003 * (1.0 + 10.0 * std::max(0.0, 0.2 - k.dropout)) * (1.0 + 1.5 * std::max(0.0, lr_excess)) *
              (ShortSequences(d) ? 1.5 : 1.0);
  c.diverged = lr_excess > kDivergeDecades;
  return c;
}

// Noise-free validation NDCG@10 after `epoch` epochs (1-based).
double CurveValue(const Curve& c, int epoch) {
  if (c.diverged) return c.level * 0.2 * std::pow(0.2, epoch - 1);
  return std::max(0.0, c.level * (1.0 - std::exp(-epoch / c.tau) - c.overfit * epoch));
}

vmle::v1::MetricValues Metrics(double ndcg10, int64_t users) {
  vmle::v1::MetricValues m;
  auto cap = [](double v) { return std::clamp(v, 0.0, 1.0); };
  m.set_ndcg_at_10(cap(ndcg10));
  m.set_ndcg_at_5(cap(0.85 * ndcg10));
  m.set_ndcg_at_20(cap(1.18 * ndcg10));
  m.set_recall_at_5(cap(1.35 * ndcg10));
  m.set_recall_at_10(cap(1.9 * ndcg10));
  m.set_recall_at_20(cap(2.6 * ndcg10));
  m.set_mrr(cap(0.8 * ndcg10));
  m.set_num_users(users);
  return m;
}

// FNV-1a of the configuration key: a platform-independent noise seed.
uint64_t ConfigHash(const vmle::v1::Configuration& config) {
  uint64_t h = 1469598103934665603ULL;
  for (char ch : ConfigKey(Space(), config)) {
    h ^= static_cast<unsigned char>(ch);
    h *= 1099511628211ULL;
  }
  return h;
}

double EpochSeconds(const Knobs& k, const SimulatedDataset& d) {
  const double hidden = std::exp2(k.log_hidden);
  const double tokens = static_cast<double>(d.num_users) * std::min(k.max_len, 2.0 * d.mean_length);
  double flops = tokens * k.blocks * 12.0 * hidden * hidden;
  if (k.loss == "full_softmax") flops += tokens * hidden * static_cast<double>(d.num_items) * 2.0;
  return 0.5 + flops * 2e-11;
}

vmle::v1::EpochMetrics Epoch(int epoch, double value, const Curve& c, const Knobs& k, const SimulatedDataset& d) {
  vmle::v1::EpochMetrics e;
  e.set_epoch(epoch);
  const double loss = 8.0 * (0.55 + 0.45 * std::exp(-epoch / c.tau));
  e.set_train_loss(c.diverged ? loss * std::pow(3.0, epoch) : loss);
  *e.mutable_validation() = Metrics(value, d.num_users);
  e.set_epoch_seconds(EpochSeconds(k, d));
  e.set_eval_seconds(0.2 + static_cast<double>(d.num_users) * std::exp2(k.log_hidden) *
                               static_cast<double>(d.num_items) * 1e-11);
  e.set_samples_per_second(static_cast<double>(d.num_users) / e.epoch_seconds());
  return e;
}

bool Valid(const vmle::v1::Configuration& config) { return space::CompleteConfiguration(Space(), config).ok(); }

// Coordinate ascent of `value` over valid configurations of the default space.
vmle::v1::Configuration Maximise(const SimulatedObjective& objective, vmle::v1::Configuration best) {
  double best_value = objective.ExpectedValue(best);
  for (int sweep = 0; sweep < kAscentSweeps; ++sweep) {
    for (const ParamSpec& p : Space().params) {
      const int n = IsNumeric(p) ? kAscentPoints : NumChoices(p);
      for (int i = 0; i < n; ++i) {
        vmle::v1::Configuration c = best;
        (*c.mutable_values())[p.name] = IsNumeric(p) ? FromUnit(p, i / (n - 1.0)) : FromChoice(p, i);
        const double v = objective.ExpectedValue(c);
        if (v > best_value && Valid(c)) {
          best_value = v;
          best = std::move(c);
        }
      }
    }
  }
  return best;
}

// Where the ascent starts: the analytic optimum of the smooth knobs.
vmle::v1::Configuration StartingPoint(const SimulatedDataset& d) {
  vmle::v1::Configuration c = DefaultConfiguration(Space());
  auto set_float = [&](const std::string& name, double v) { (*c.mutable_values())[name].set_float_value(v); };
  auto set_int = [&](const std::string& name, int64_t v) { (*c.mutable_values())[name].set_int_value(v); };
  set_int("hidden_dim", 2 * std::llround(std::exp2(BestLogHidden(d)) / 2));
  set_int("num_heads", 2);
  set_int("max_epochs", 200);
  Knobs k = ReadKnobs(c);
  set_float("lr", std::clamp(std::pow(10.0, BestLogLr(k, d)), 1e-5, 1e-2));
  set_float("dropout", BestDropout(k, d));
  return c;
}

}  // namespace

SimulatedDataset BeautyLike(uint64_t seed) {
  SimulatedDataset d;
  d.name = "beauty-sim";
  d.seed = seed;
  return d;
}

SimulatedDataset MovieLensLike(uint64_t seed) {
  SimulatedDataset d;
  d.name = "ml1m-sim";
  d.seed = seed;
  d.lr_shift = 0.7;
  d.hidden_shift = 0.6;
  d.dropout_shift = -0.1;
  d.prior_shift = -0.1;
  d.mean_length = 165.0;
  d.num_items = 3416;
  d.num_users = 6040;
  d.peak = 0.18;
  return d;
}

SimulatedDataset Related(const SimulatedDataset& base, std::string name, uint64_t seed) {
  Rng rng(DeriveSeed(seed, 0x72656c));  // "rel"
  SimulatedDataset d = base;
  d.name = std::move(name);
  d.seed = seed;
  d.lr_shift += 0.1 * rng.Normal();
  d.hidden_shift += 0.2 * rng.Normal();
  d.dropout_shift += 0.03 * rng.Normal();
  d.prior_shift = std::clamp(d.prior_shift + 0.03 * rng.Normal(), -0.15, 0.3);
  const double mean_length = d.mean_length * std::exp(0.1 * rng.Normal());
  // Same regime: a related dataset stays on its side of the short/long boundary.
  d.mean_length = ShortSequences(base) ? std::min(mean_length, 9.9) : std::max(mean_length, 10.0);
  const double items = static_cast<double>(d.num_items) * std::exp(0.2 * rng.Normal());
  d.num_items = LargeCatalogue(base) ? std::max<int64_t>(std::llround(items), 5001)
                                     : std::min<int64_t>(std::llround(items), 5000);
  d.num_users = std::llround(static_cast<double>(d.num_users) * std::exp(0.2 * rng.Normal()));
  d.peak *= std::exp(0.15 * rng.Normal());
  return d;
}

SimulatedObjective::SimulatedObjective(SimulatedDataset dataset) : dataset_(std::move(dataset)) {}

const SimulatedObjective::Peak& SimulatedObjective::FindPeak() const {
  absl::call_once(peak_->once, [this] {
    peak_->config = Maximise(*this, StartingPoint(dataset_));
    peak_->value = ExpectedValue(peak_->config);
  });
  return *peak_;
}

double SimulatedObjective::ExpectedValue(const vmle::v1::Configuration& config) const {
  const Knobs k = ReadKnobs(config);
  const Curve c = CurveOf(k, dataset_);
  double best = 0.0;
  for (int e = 1; e <= static_cast<int>(k.max_epochs); ++e) best = std::max(best, CurveValue(c, e));
  return best;
}

SimulatedTrial SimulatedObjective::Run(const vmle::v1::Configuration& config, uint64_t trial_seed) const {
  const Knobs k = ReadKnobs(config);
  const Curve c = CurveOf(k, dataset_);
  // The epoch budget and patience only decide where a run stops: the same seed gives
  // the same epochs, so a run with more epochs never ends below one with fewer.
  vmle::v1::Configuration shape = config;
  shape.mutable_values()->erase("max_epochs");
  shape.mutable_values()->erase("early_stop_patience");
  Rng shared(DeriveSeed(dataset_.seed, trial_seed));
  Rng rng(DeriveSeed(DeriveSeed(dataset_.seed, trial_seed), ConfigHash(shape)));
  // A run-level offset (initialisation) and per-epoch jitter (batch order, evaluation
  // sampling), half of each shared by every configuration on the seed, as common
  // random numbers are.
  const double offset = 0.6 * dataset_.noise * (std::sqrt(0.5) * shared.Normal() + std::sqrt(0.5) * rng.Normal());
  SimulatedTrial trial;
  trial.diverged = c.diverged;
  double best = -1.0;
  for (int e = 1, since_best = 0; e <= static_cast<int>(k.max_epochs); ++e) {
    const double jitter = 0.8 * dataset_.noise * (std::sqrt(0.5) * shared.Normal() + std::sqrt(0.5) * rng.Normal());
    const double value = std::max(0.0, CurveValue(c, e) * (1.0 + offset + jitter));
    trial.epochs.push_back(Epoch(e, value, c, k, dataset_));
    if (value > best) {
      best = value;
      trial.best_epoch = e;
      since_best = 0;
    } else if (++since_best >= static_cast<int>(k.patience)) {
      break;
    }
  }
  trial.validation = trial.epochs[static_cast<size_t>(trial.best_epoch - 1)].validation();
  const double test = best * (0.96 + 0.02 * rng.Normal());
  trial.test = Metrics(std::max(0.0, test), dataset_.num_users);
  return trial;
}

double MetricOf(const vmle::v1::MetricValues& values, vmle::v1::Metric metric) {
  switch (metric) {
    case vmle::v1::METRIC_RECALL_AT_5: return values.recall_at_5();
    case vmle::v1::METRIC_RECALL_AT_10: return values.recall_at_10();
    case vmle::v1::METRIC_RECALL_AT_20: return values.recall_at_20();
    case vmle::v1::METRIC_NDCG_AT_5: return values.ndcg_at_5();
    case vmle::v1::METRIC_NDCG_AT_20: return values.ndcg_at_20();
    case vmle::v1::METRIC_MRR: return values.mrr();
    default: break;
  }
  return values.ndcg_at_10();
}

}  // namespace vmle::agent::sim
