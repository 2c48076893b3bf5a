#include "common/space/train_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <sstream>

#include "common/status/message.h"
#include "common/status/status_macros.h"

namespace vmle::space {
namespace {

absl::Status Invalid(const std::string& name, const std::string& what) {
  return absl::InvalidArgumentError("parameter '" + name + "': " + what);
}

// `text` in quotes, cut (common/status/message.h).
std::string Quoted(std::string_view text) {
  return "\"" + TruncateForMessage(absl::string_view(text.data(), text.size())) + "\"";
}

// Text as `--set` writes it.
absl::StatusOr<int64_t> ParseInt(const std::string& name, std::string_view text) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Invalid(name, "expected an integer, got " + Quoted(text));
  }
  return v;
}

absl::StatusOr<double> ParseDouble(const std::string& name, std::string_view text) {
  try {
    size_t used = 0;
    const std::string s(text);
    const double v = std::stod(s, &used);
    if (used != s.size() || !std::isfinite(v)) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    return Invalid(name, "expected a number, got " + Quoted(text));
  }
}

absl::StatusOr<bool> ParseBool(const std::string& name, std::string_view text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return Invalid(name, "expected true or false, got " + Quoted(text));
}

// Typed values as trials carry them.
absl::StatusOr<int64_t> IntOf(const std::string& name, const Value& value) {
  if (const std::optional<int64_t> v = value.integer(); v.has_value()) return *v;
  return Invalid(name, "expected an integer, got " + DescribeValue(value));
}

absl::StatusOr<double> DoubleOf(const std::string& name, const Value& value) {
  const std::optional<double> v = value.number();
  if (v.has_value() && std::isfinite(*v)) return *v;
  return Invalid(name, "expected a number, got " + DescribeValue(value));
}

absl::StatusOr<bool> BoolOf(const std::string& name, const Value& value) {
  if (const bool* b = value.bool_value()) return *b;
  return Invalid(name, "expected true or false, got " + DescribeValue(value));
}

absl::StatusOr<std::string> TextOf(const std::string& name, const Value& value) {
  if (const std::string* t = value.text_value()) return *t;
  return Invalid(name, "expected text, got " + DescribeValue(value));
}

template <typename E>
absl::StatusOr<E> ParseEnum(const std::string& name, const std::string& text,
                            const std::vector<std::pair<std::string, E>>& choices) {
  std::string names;
  for (const auto& [label, value] : choices) {
    if (label == text) return value;
    names += (names.empty() ? "" : ", ") + label;
  }
  return Invalid(name, "expected one of " + names + ", got " + Quoted(text));
}

template <typename E>
std::string EnumName(E value, const std::vector<std::pair<std::string, E>>& choices) {
  for (const auto& [label, v] : choices) {
    if (v == value) return label;
  }
  return "?";
}

const std::vector<std::pair<std::string, Backbone>> kBackbones = {{"sasrec", Backbone::kSASRec},
                                                                 {"hstu", Backbone::kHSTU}};
const std::vector<std::pair<std::string, LossKind>> kLosses = {
    {"sampled_softmax", LossKind::kSampledSoftmax},
    {"full_softmax", LossKind::kFullSoftmax},
    {"bce", LossKind::kBce}};
const std::vector<std::pair<std::string, TrainTargets>> kTargets = {
    {"all_positions", TrainTargets::kAllPositions}, {"last_position", TrainTargets::kLastPosition}};
const std::vector<std::pair<std::string, ItemCfNormKind>> kItemCfNorms = {
    {"sqrt", ItemCfNormKind::kSqrt}, {"count", ItemCfNormKind::kCount}, {"none", ItemCfNormKind::kNone}};
const std::vector<std::pair<std::string, Batching>> kBatchings = {
    {"packed", Batching::kPacked}, {"random", Batching::kRandom}, {"length_buckets", Batching::kLengthBuckets}};
const std::vector<std::pair<std::string, OptimizerKind>> kOptimizers = {
    {"adam", OptimizerKind::kAdam}, {"adamw", OptimizerKind::kAdamW}};
const std::vector<std::pair<std::string, PositionKind>> kPositions = {
    {"absolute", PositionKind::kAbsolute},
    {"rope", PositionKind::kRope},
    {"none", PositionKind::kNone},
    {"relative_bias", PositionKind::kRelativeBias}, {"absolute_relative", PositionKind::kAbsoluteRelative}};
const std::vector<std::pair<std::string, FeedForwardKind>> kFeedForwards = {
    {"gelu", FeedForwardKind::kGelu}, {"swiglu", FeedForwardKind::kSwiglu}};
const std::vector<std::pair<std::string, PoolingKind>> kPoolings = {
    {"last", PoolingKind::kLast}, {"mean", PoolingKind::kMean}, {"last_k_mean", PoolingKind::kLastKMean}};

// The type of a setting's values.
enum class Kind { kInt, kFloat, kBool, kText };

// One settable parameter: its type, how a typed value goes into the config and how the
// config's value is printed.
struct Param {
  Kind kind;
  std::function<absl::Status(TrainConfig&, const std::string& name, const Value& value)> set;
  std::function<std::string(const TrainConfig&)> get;
};

template <typename T>
std::string ToText(const T& v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::string BoolText(const bool& v) { return v ? "true" : "false"; }
std::string Text(const std::string& v) { return v; }
absl::StatusOr<uint64_t> SeedOf(const std::string& name, const Value& value) {
  ASSIGN_OR_RETURN(int64_t v, IntOf(name, value));
  return static_cast<uint64_t>(v);
}

// Accessors of a field of the configuration or of its model part.
template <typename T>
auto Top(T TrainConfig::*field) {
  return [field](TrainConfig& c) -> T& { return c.*field; };
}
template <typename T>
auto Model(T ModelConfig::*field) {
  return [field](TrainConfig& c) -> T& { return c.model.*field; };
}

// A parameter of type `kind` stored at ref(config), read by `read` from a typed value
// and written by `print`.
template <typename T, typename Read, typename Print, typename Ref>
Param Typed(Kind kind, Read read, Print print, Ref ref) {
  return {kind,
          [read, ref](TrainConfig& c, const std::string& n, const Value& v) -> absl::Status {
            ASSIGN_OR_RETURN(ref(c), read(n, v));
            return absl::OkStatus();
          },
          [print, ref](const TrainConfig& c) { return print(ref(const_cast<TrainConfig&>(c))); }};
}

template <typename Ref>
Param Int(Ref ref) { return Typed<int64_t>(Kind::kInt, IntOf, ToText<int64_t>, ref); }
template <typename Ref>
Param Double(Ref ref) { return Typed<double>(Kind::kFloat, DoubleOf, ToText<double>, ref); }
template <typename Ref>
Param Bool(Ref ref) { return Typed<bool>(Kind::kBool, BoolOf, BoolText, ref); }
template <typename Ref>
Param String(Ref ref) { return Typed<std::string>(Kind::kText, TextOf, Text, ref); }

template <typename E, typename Ref>
Param Enum(const std::vector<std::pair<std::string, E>>* choices, Ref ref) {
  return Typed<E>(
      Kind::kText,
      [choices](const std::string& n, const Value& v) -> absl::StatusOr<E> {
        ASSIGN_OR_RETURN(const std::string text, TextOf(n, v));
        return ParseEnum<E>(n, text, *choices);
      },
      [choices](const E& v) { return EnumName<E>(v, *choices); }, ref);
}

const std::map<std::string, Param>& Params() {
  static const auto* params = new std::map<std::string, Param>{
      {"backbone", Enum(&kBackbones, Top(&TrainConfig::backbone))},
      {"hidden_dim", Int(Model(&ModelConfig::hidden_dim))},
      {"num_blocks", Int(Model(&ModelConfig::num_blocks))},
      {"num_heads", Int(Model(&ModelConfig::num_heads))},
      {"dropout", Double(Model(&ModelConfig::dropout))},
      {"attn_dropout", Double(Model(&ModelConfig::attn_dropout))},
      {"max_len", Int(Model(&ModelConfig::max_len))},
      {"pre_norm", Bool(Model(&ModelConfig::pre_norm))},
      {"feed_forward", Enum(&kFeedForwards, Model(&ModelConfig::feed_forward))},
      {"ffn_multiplier", Int(Model(&ModelConfig::ffn_multiplier))},
      {"positions", Enum(&kPositions, Model(&ModelConfig::positions))},
      {"tie_embeddings", Bool(Model(&ModelConfig::tie_embeddings))},
      {"pooling", Enum(&kPoolings, Model(&ModelConfig::pooling))},
      {"pooling_k", Int(Model(&ModelConfig::pooling_k))},
      {"embedding_norm", Bool(Model(&ModelConfig::embedding_norm))},
      {"temperature", Double(Model(&ModelConfig::temperature))},
      {"linear_dim", Int(Model(&ModelConfig::linear_dim))},
      {"attention_dim", Int(Model(&ModelConfig::attention_dim))},
      {"loss", Enum(&kLosses, Top(&TrainConfig::loss))},
      {"num_negatives", Int(Top(&TrainConfig::num_negatives))},
      {"train_targets", Enum(&kTargets, Top(&TrainConfig::train_targets))},
      {"optimizer", Enum(&kOptimizers, Top(&TrainConfig::optimizer))},
      {"lr", Double(Top(&TrainConfig::lr))},
      {"weight_decay", Double(Top(&TrainConfig::weight_decay))},
      {"adam_beta1", Double(Top(&TrainConfig::adam_beta1))},
      {"adam_beta2", Double(Top(&TrainConfig::adam_beta2))},
      {"grad_clip", Double(Top(&TrainConfig::grad_clip))},
      {"batch_size", Int(Top(&TrainConfig::batch_size))},
      {"batching", Enum(&kBatchings, Top(&TrainConfig::batching))},
      {"balance_targets", Bool(Top(&TrainConfig::balance_targets))},
      {"max_epochs", Int(Top(&TrainConfig::max_epochs))},
      {"early_stop_patience", Int(Top(&TrainConfig::early_stop_patience))},
      {"early_stop_min_delta", Double(Top(&TrainConfig::early_stop_min_delta))},
      {"eval_batch_size", Int(Top(&TrainConfig::eval_batch_size))},
      {"threads", Int(Top(&TrainConfig::threads))},
      {"popularity_prior_weight", Double(Top(&TrainConfig::popularity_prior_weight))},
      {"transition_prior_weight", Double(Top(&TrainConfig::transition_prior_weight))},
      {"prior_recent_k", Int(Top(&TrainConfig::prior_recent_k))},
      {"itemcf_prior_weight", Double(Top(&TrainConfig::itemcf_prior_weight))},
      {"itemcf_window", Int(Top(&TrainConfig::itemcf_window))},
      {"itemcf_topk", Int(Top(&TrainConfig::itemcf_topk))},
      {"itemcf_norm", Enum(&kItemCfNorms, Top(&TrainConfig::itemcf_norm))},
      {"rerank_topk", Int(Top(&TrainConfig::rerank_topk))},
      {"rerank_popularity_weight", Double(Top(&TrainConfig::rerank_popularity_weight))},
      {"rerank_transition_weight", Double(Top(&TrainConfig::rerank_transition_weight))},
      {"rerank_itemcf_weight", Double(Top(&TrainConfig::rerank_itemcf_weight))},
      {"select_metric", String(Top(&TrainConfig::select_metric))},
      {"device", String(Top(&TrainConfig::device))},
      {"seed", Typed<uint64_t>(Kind::kInt, SeedOf, ToText<uint64_t>, Top(&TrainConfig::seed))},
  };
  return *params;
}

absl::Status CheckRange(const std::string& name, double value, double lo, double hi) {
  if (value < lo || value > hi) {
    return Invalid(name, "must be in [" + ToText(lo) + ", " + ToText(hi) + "], got " + ToText(value));
  }
  return absl::OkStatus();
}

// SASRec splits hidden_dim into heads; HSTU gives every head its own linear_dim and
// attention_dim. Rotary positions rotate pairs of query/key coordinates.
absl::Status CheckHeads(Backbone backbone, const ModelConfig& m) {
  if (backbone == Backbone::kHSTU) {
    if (m.positions == PositionKind::kRope && m.attention_dim % 2 != 0) {
      return Invalid("positions", "rope needs an even attention_dim, got " + ToText(m.attention_dim));
    }
    return absl::OkStatus();
  }
  if (m.hidden_dim % m.num_heads != 0) {
    return Invalid("num_heads", "must divide hidden_dim (" + ToText(m.hidden_dim) + "), got " +
                                    ToText(m.num_heads));
  }
  if (m.positions == PositionKind::kRope && (m.hidden_dim / m.num_heads) % 2 != 0) {
    return Invalid("positions", "rope needs an even head dimension (hidden_dim / num_heads)");
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& MetricNames() {
  static const auto* names = new std::vector<std::string>{
      "recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr"};
  return *names;
}

absl::Status ValidateTrainConfig(const TrainConfig& c) {
  const ModelConfig& m = c.model;
  RETURN_IF_ERROR(CheckRange("hidden_dim", m.hidden_dim, 4, 4096));
  RETURN_IF_ERROR(CheckRange("num_blocks", m.num_blocks, 1, 24));
  RETURN_IF_ERROR(CheckRange("num_heads", m.num_heads, 1, 64));
  RETURN_IF_ERROR(CheckRange("linear_dim", m.linear_dim, 1, 4096));
  RETURN_IF_ERROR(CheckRange("attention_dim", m.attention_dim, 1, 4096));
  RETURN_IF_ERROR(CheckHeads(c.backbone, m));
  RETURN_IF_ERROR(CheckRange("dropout", m.dropout, 0, 0.95));
  RETURN_IF_ERROR(CheckRange("attn_dropout", m.attn_dropout, 0, 0.95));
  RETURN_IF_ERROR(CheckRange("max_len", m.max_len, 2, 4096));
  RETURN_IF_ERROR(CheckRange("ffn_multiplier", m.ffn_multiplier, 1, 16));
  RETURN_IF_ERROR(CheckRange("pooling_k", m.pooling_k, 1, 4096));
  RETURN_IF_ERROR(CheckRange("temperature", m.temperature, 1e-3, 10));
  RETURN_IF_ERROR(CheckRange("num_negatives", c.num_negatives, 1, 1000000));
  RETURN_IF_ERROR(CheckRange("lr", c.lr, 1e-7, 1.0));
  if (c.lr <= 0) return Invalid("lr", "must be > 0");
  RETURN_IF_ERROR(CheckRange("weight_decay", c.weight_decay, 0, 1));
  RETURN_IF_ERROR(CheckRange("adam_beta1", c.adam_beta1, 0, 0.99999));
  RETURN_IF_ERROR(CheckRange("adam_beta2", c.adam_beta2, 0, 0.99999999));
  RETURN_IF_ERROR(CheckRange("grad_clip", c.grad_clip, 0, 1e6));
  RETURN_IF_ERROR(CheckRange("batch_size", c.batch_size, 1, 65536));
  RETURN_IF_ERROR(CheckRange("max_epochs", c.max_epochs, 1, 10000));
  RETURN_IF_ERROR(CheckRange("early_stop_patience", c.early_stop_patience, 0, 10000));
  RETURN_IF_ERROR(CheckRange("early_stop_min_delta", c.early_stop_min_delta, 0.0, 1.0));
  RETURN_IF_ERROR(CheckRange("eval_batch_size", c.eval_batch_size, 1, 1 << 20));
  RETURN_IF_ERROR(CheckRange("threads", c.threads, 0, 1024));
  RETURN_IF_ERROR(CheckRange("popularity_prior_weight", c.popularity_prior_weight, 0, 1));
  RETURN_IF_ERROR(CheckRange("transition_prior_weight", c.transition_prior_weight, 0, 1));
  RETURN_IF_ERROR(CheckRange("itemcf_prior_weight", c.itemcf_prior_weight, 0, 1));
  RETURN_IF_ERROR(CheckRange("prior_recent_k", c.prior_recent_k, 1, 50));
  RETURN_IF_ERROR(CheckRange("itemcf_window", c.itemcf_window, 1, 50));
  RETURN_IF_ERROR(CheckRange("itemcf_topk", c.itemcf_topk, 1, 10000));
  RETURN_IF_ERROR(CheckRange("rerank_topk", c.rerank_topk, 0, 10000));
  RETURN_IF_ERROR(CheckRange("rerank_popularity_weight", c.rerank_popularity_weight, 0, 1));
  RETURN_IF_ERROR(CheckRange("rerank_transition_weight", c.rerank_transition_weight, 0, 1));
  RETURN_IF_ERROR(CheckRange("rerank_itemcf_weight", c.rerank_itemcf_weight, 0, 1));
  const auto& metrics = MetricNames();
  if (std::find(metrics.begin(), metrics.end(), c.select_metric) == metrics.end()) {
    return Invalid("select_metric", "expected one of recall@5, recall@10, recall@20, ndcg@5, "
                                    "ndcg@10, ndcg@20, mrr, got \"" + c.select_metric + "\"");
  }
  if (c.device != "cpu" && c.device.rfind("cuda", 0) != 0) {
    return Invalid("device", "expected cpu or cuda:N, got \"" + c.device + "\"");
  }
  return absl::OkStatus();
}

namespace {

// The setting `name`, or INVALID_ARGUMENT listing the known names.
absl::StatusOr<const Param*> FindParam(const std::string& name) {
  const auto& params = Params();
  const auto it = params.find(name);
  if (it != params.end()) return &it->second;
  std::string known;
  for (const auto& [n, p] : params) known += (known.empty() ? "" : ", ") + n;
  return absl::InvalidArgumentError("unknown parameter '" + TruncateForMessage(name) + "'; known: " + known);
}

}  // namespace

absl::StatusOr<TrainConfig> ApplySettings(const TrainConfig& base, const Settings& settings) {
  TrainConfig config = base;
  for (const auto& [name, value] : settings) {
    ASSIGN_OR_RETURN(const Param* param, FindParam(name));
    RETURN_IF_ERROR(param->set(config, name, value));
  }
  RETURN_IF_ERROR(ValidateTrainConfig(config));
  return config;
}

absl::StatusOr<Value> ParseSetting(const std::string& name, std::string_view text) {
  ASSIGN_OR_RETURN(const Param* param, FindParam(name));
  switch (param->kind) {
    case Kind::kInt: {
      ASSIGN_OR_RETURN(int64_t v, ParseInt(name, text));
      return Value::Int(v);
    }
    case Kind::kFloat: {
      ASSIGN_OR_RETURN(double v, ParseDouble(name, text));
      return Value::Float(v);
    }
    case Kind::kBool: {
      ASSIGN_OR_RETURN(bool v, ParseBool(name, text));
      return Value::Bool(v);
    }
    case Kind::kText: break;
  }
  return Value::Text(std::string(text));
}

absl::StatusOr<Settings> ParseSettings(const std::vector<std::pair<std::string, std::string>>& text) {
  Settings out;
  for (const auto& [name, value] : text) {
    ASSIGN_OR_RETURN(Value typed, ParseSetting(name, value));
    out.emplace_back(name, std::move(typed));
  }
  return out;
}

absl::StatusOr<TrainConfig> ApplyTextSettings(const TrainConfig& base,
                                              const std::vector<std::pair<std::string, std::string>>& text) {
  ASSIGN_OR_RETURN(const Settings settings, ParseSettings(text));
  return ApplySettings(base, settings);
}

std::map<std::string, std::string> DescribeConfig(const TrainConfig& config) {
  std::map<std::string, std::string> out;
  for (const auto& [name, param] : Params()) out[name] = param.get(config);
  return out;
}

}  // namespace vmle::space
