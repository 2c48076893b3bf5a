#include "common/space/search_space.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "common/status/message.h"
#include "common/status/status_macros.h"

namespace vmle::space {
namespace {

absl::Status Invalid(std::string_view name, const std::string& what) {
  return absl::InvalidArgumentError("parameter '" + std::string(name) + "': " + what);
}

std::string Num(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

bool ParseInteger(std::string_view text, int64_t* out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool ParseReal(std::string_view text, double* out) {
  try {
    size_t used = 0;
    const std::string s(text);
    *out = std::stod(s, &used);
    return used == s.size() && std::isfinite(*out);
  } catch (const std::exception&) {
    return false;
  }
}

ParamSpec IntParam(std::string name, double min, double max, bool log, int64_t def,
                   std::string description) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::kInt;
  p.min = min;
  p.max = max;
  p.log_scale = log;
  p.default_value = Value::Int(def);
  p.description = std::move(description);
  return p;
}

ParamSpec FloatParam(std::string name, double min, double max, bool log, double def,
                     std::string description) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::kFloat;
  p.min = min;
  p.max = max;
  p.log_scale = log;
  p.default_value = Value::Float(def);
  p.description = std::move(description);
  return p;
}

ParamSpec Choice(std::string name, std::vector<std::string> choices, std::string def,
                 std::string description) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::kCategorical;
  p.choices = std::move(choices);
  p.default_value = Value::Text(std::move(def));
  p.description = std::move(description);
  return p;
}

ParamSpec BoolParam(std::string name, bool def, std::string description) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::kBool;
  p.default_value = Value::Bool(def);
  p.description = std::move(description);
  return p;
}

ParamSpec When(ParamSpec p, std::string param, std::string value) {
  p.condition_param = std::move(param);
  p.condition_value = std::move(value);
  return p;
}

// Parameters both backbones share, with the given reference defaults.
struct SharedDefaults {
  int64_t hidden_dim, num_blocks, num_heads, max_len, batch_size, num_negatives;
  double dropout, attn_dropout, lr, weight_decay;
  std::string optimizer, positions;
  bool embedding_norm;
};

std::vector<ParamSpec> SharedParams(const SharedDefaults& d) {
  return {
      IntParam("hidden_dim", 16, 512, true, d.hidden_dim, "width of item embeddings and hidden states"),
      IntParam("num_blocks", 1, 4, false, d.num_blocks, "number of stacked attention blocks"),
      IntParam("num_heads", 1, 8, false, d.num_heads,
               "attention heads (SASRec: must divide hidden_dim; HSTU: each has its own dims)"),
      FloatParam("dropout", 0.0, 0.9, false, d.dropout,
                 "dropout on embeddings and residual branches; higher regularises small data"),
      FloatParam("attn_dropout", 0.0, 0.9, false, d.attn_dropout, "dropout on attention weights"),
      IntParam("max_len", 10, 200, false, d.max_len, "most recent history items the model reads"),
      IntParam("batch_size", 32, 1024, true, d.batch_size, "training sequences per step"),
      FloatParam("lr", 1e-5, 1e-2, true, d.lr, "learning rate"),
      FloatParam("weight_decay", 1e-8, 1e-1, true, d.weight_decay,
                 "L2 penalty (adam) or decoupled weight decay (adamw)"),
      Choice("optimizer", {"adam", "adamw"}, d.optimizer, "optimiser"),
      Choice("loss", {"sampled_softmax", "full_softmax", "bce"}, "sampled_softmax",
             "training loss: softmax over sampled negatives, over all items, or binary "
             "cross-entropy with one negative"),
      When(IntParam("num_negatives", 16, 4096, true, d.num_negatives,
                    "negatives per step of the sampled softmax"),
           "loss", "sampled_softmax"),
      Choice("train_targets", {"all_positions", "last_position"}, "all_positions",
             "predict the next item at every position or only at the last"),
      IntParam("max_epochs", 1, 200, false, 20, "upper bound on training epochs"),
      IntParam("early_stop_patience", 1, 10, false, 3,
               "epochs without validation improvement before training stops"),
      BoolParam("tie_embeddings", true, "score items with the input embedding table"),
      Choice("pooling", {"last", "mean", "last_k_mean"}, "last",
             "user state: last hidden state, mean over the history, or mean of the last k"),
      When(IntParam("pooling_k", 2, 10, false, 3, "positions averaged by last_k_mean"), "pooling",
           "last_k_mean"),
      Choice("positions", {"absolute", "rope", "none", "relative_bias", "absolute_relative"}, d.positions,
             "position information: learned absolute, rotary, none, a learned bias per "
             "bucketed distance on the attention logits, or absolute and that bias together"),
      BoolParam("embedding_norm", d.embedding_norm,
                "score with L2-normalised user states and item embeddings (cosine / temperature)"),
      When(FloatParam("temperature", 0.01, 1.0, true, 0.05,
                      "divides the cosine logits; lower sharpens the softmax"),
           "embedding_norm", "true"),
      FloatParam("popularity_prior_weight", 0.0, 1.0, false, 0.0,
                 "weight of the training-split popularity prior blended into scores"),
      FloatParam("transition_prior_weight", 0.0, 1.0, false, 0.0,
                 "weight of the first-order item-transition prior blended into scores"),
      IntParam("prior_recent_k", 1, 10, false, 1,
               "recent history items the transition and itemCF priors start from"),
      FloatParam("itemcf_prior_weight", 0.0, 1.0, false, 0.0,
                 "weight of the item co-occurrence (itemCF) prior blended into all scores"),
      IntParam("itemcf_window", 1, 10, false, 3, "positions apart two items may be to co-occur"),
      IntParam("itemcf_topk", 5, 500, true, 50, "co-occurring neighbours kept per item"),
      Choice("itemcf_norm", {"sqrt", "count", "none"}, "sqrt",
             "itemCF neighbour weight: count / sqrt(n_a n_b) (cosine), count / n_b (discounts "
             "popular neighbours fully) or the raw count"),
      IntParam("rerank_topk", 0, 200, false, 0,
               "re-rank only the model's top K items by the rerank_* prior weights (0: off); "
               "leaves the order below K alone"),
      FloatParam("rerank_popularity_weight", 0.0, 1.0, false, 0.0,
                 "weight of the popularity prior inside the re-ranked top K"),
      FloatParam("rerank_transition_weight", 0.0, 1.0, false, 0.0,
                 "weight of the transition prior inside the re-ranked top K"),
      FloatParam("rerank_itemcf_weight", 0.0, 1.0, false, 0.0,
                 "weight of the itemCF prior inside the re-ranked top K"),
  };
}

SearchSpace SasrecSpace() {
  SearchSpace s;
  s.backbone = Backbone::kSASRec;
  // The reference configuration (the defaults of train_config.h).
  s.params = SharedParams({.hidden_dim = 128, .num_blocks = 1, .num_heads = 1, .max_len = 50,
                           .batch_size = 256, .num_negatives = 500, .dropout = 0.2,
                           .attn_dropout = 0.2, .lr = 3e-4, .weight_decay = 1e-5,
                           .optimizer = "adam", .positions = "absolute", .embedding_norm = false});
  s.params.push_back(Choice("feed_forward", {"gelu", "swiglu"}, "gelu", "feed-forward activation"));
  s.params.push_back(BoolParam("pre_norm", false, "pre-LayerNorm blocks instead of post-LayerNorm"));
  return s;
}

SearchSpace HstuSpace() {
  SearchSpace s;
  s.backbone = Backbone::kHSTU;
  // The HSTU reference configuration (Zhai et al., 2024, at the seed paper's size).
  // Its attention has no dropout; weight decay is the reference's AdamW default. As
  // in the reference's published configurations (4 heads of 16 at width 64), the
  // heads together are as wide as the hidden state: 4 heads of 32 at width 128.
  s.params = SharedParams({.hidden_dim = 128, .num_blocks = 1, .num_heads = 4, .max_len = 50,
                           .batch_size = 128, .num_negatives = 500, .dropout = 0.5,
                           .attn_dropout = 0.0, .lr = 3e-4, .weight_decay = 1e-3,
                           .optimizer = "adamw", .positions = "absolute_relative",
                           .embedding_norm = true});
  s.params.push_back(IntParam("linear_dim", 4, 128, true, 32,
                              "per-head width of the u and v projections (values and gate)"));
  s.params.push_back(IntParam("attention_dim", 4, 128, true, 32,
                              "per-head width of the q and k projections"));
  return s;
}

bool IsWhole(double v) { return std::floor(v) == v; }

constexpr Backbone kBackbones[] = {Backbone::kSASRec, Backbone::kHSTU};

}  // namespace

const ParamSpec* SearchSpace::Find(std::string_view name) const {
  for (const ParamSpec& p : params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string_view ParamTypeName(ParamType type) {
  switch (type) {
    case ParamType::kInt: return "int";
    case ParamType::kFloat: return "float";
    case ParamType::kCategorical: return "categorical";
    case ParamType::kBool: return "bool";
  }
  return "?";
}

std::string_view BackboneName(Backbone backbone) {
  switch (backbone) {
    case Backbone::kSASRec: return "sasrec";
    case Backbone::kHSTU: return "hstu";
  }
  return "?";
}

const SearchSpace& DefaultSearchSpace(Backbone backbone) {
  static const auto* sasrec = new SearchSpace(SasrecSpace());
  static const auto* hstu = new SearchSpace(HstuSpace());
  switch (backbone) {
    case Backbone::kSASRec: return *sasrec;
    case Backbone::kHSTU: return *hstu;
  }
  return *sasrec;
}

TrainConfig BackboneBaseConfig(Backbone backbone) {
  TrainConfig config;
  config.backbone = backbone;
  if (backbone == Backbone::kHSTU) {
    // The HSTU reference: AdamW with betas (0.9, 0.98), no gradient clipping, random
    // batches (packed, the default), the epoch selected on validation NDCG@10.
    config.adam_beta1 = 0.9;
    config.adam_beta2 = 0.98;
    config.grad_clip = 0;
    config.select_metric = "ndcg@10";
  }
  return config;
}

absl::Status ValidateParamSpec(const ParamSpec& p) {
  if (p.name.empty()) return absl::InvalidArgumentError("a parameter has no name");
  switch (p.type) {
    case ParamType::kInt:
    case ParamType::kFloat:
      if (!(p.min <= p.max)) {
        return Invalid(p.name, "min (" + Num(p.min) + ") must not exceed max (" + Num(p.max) + ")");
      }
      if (p.log_scale && p.min <= 0) return Invalid(p.name, "log scale needs min > 0");
      if (p.type == ParamType::kInt && (!IsWhole(p.min) || !IsWhole(p.max))) {
        return Invalid(p.name, "integer bounds must be whole numbers");
      }
      if (p.step < 0) return Invalid(p.name, "step must be >= 0");
      if (p.step > 0 && p.type == ParamType::kFloat) return Invalid(p.name, "step applies to integers only");
      if (!p.choices.empty()) return Invalid(p.name, "a numeric parameter has no choices");
      break;
    case ParamType::kCategorical: {
      if (p.choices.empty()) return Invalid(p.name, "a categorical parameter needs at least one choice");
      std::set<std::string> seen;
      for (const std::string& c : p.choices) {
        if (!seen.insert(c).second) return Invalid(p.name, "choice \"" + c + "\" is listed twice");
      }
      break;
    }
    case ParamType::kBool:
      if (!p.choices.empty()) return Invalid(p.name, "a bool parameter has no choices");
      break;
  }
  if (absl::Status s = ValidateValue(p, p.default_value); !s.ok()) {
    return Invalid(p.name, "default: " + std::string(s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Value> ConformValue(const ParamSpec& p, const Value& value) {
  const std::string given = DescribeValue(value);
  switch (p.type) {
    case ParamType::kInt: {
      const std::optional<int64_t> integer = value.integer();
      if (!integer.has_value()) return Invalid(p.name, "expected an integer, got " + given);
      const int64_t v = *integer;
      if (v < p.min || v > p.max) {
        return Invalid(p.name, "must be in [" + Num(p.min) + ", " + Num(p.max) + "], got " + std::to_string(v));
      }
      if (p.step > 0 && (v - static_cast<int64_t>(p.min)) % p.step != 0) {
        return Invalid(p.name, "must be " + Num(p.min) + " + a multiple of " + std::to_string(p.step) +
                                   ", got " + std::to_string(v));
      }
      return Value::Int(v);
    }
    case ParamType::kFloat: {
      const std::optional<double> v = value.number();
      if (!v.has_value() || !std::isfinite(*v)) return Invalid(p.name, "expected a number, got " + given);
      if (*v < p.min || *v > p.max) {
        return Invalid(p.name, "must be in [" + Num(p.min) + ", " + Num(p.max) + "], got " + Num(*v));
      }
      return Value::Float(*v);
    }
    case ParamType::kCategorical: {
      const std::string* t = value.text_value();
      if (t != nullptr && std::find(p.choices.begin(), p.choices.end(), *t) != p.choices.end()) return value;
      std::string names;
      for (const std::string& c : p.choices) names += (names.empty() ? "" : ", ") + c;
      return Invalid(p.name, "expected one of " + names + ", got " + given);
    }
    case ParamType::kBool:
      if (value.bool_value() != nullptr) return value;
      return Invalid(p.name, "expected true or false, got " + given);
  }
  return Invalid(p.name, "unknown type");
}

absl::Status ValidateValue(const ParamSpec& p, const Value& value) { return ConformValue(p, value).status(); }

absl::StatusOr<Value> ParseValue(const ParamSpec& p, std::string_view text) {
  const std::string quoted = "\"" + TruncateForMessage(absl::string_view(text.data(), text.size())) + "\"";
  switch (p.type) {
    case ParamType::kInt: {
      int64_t v = 0;
      if (!ParseInteger(text, &v)) return Invalid(p.name, "expected an integer, got " + quoted);
      return ConformValue(p, Value::Int(v));
    }
    case ParamType::kFloat: {
      double v = 0;
      if (!ParseReal(text, &v)) return Invalid(p.name, "expected a number, got " + quoted);
      return ConformValue(p, Value::Float(v));
    }
    case ParamType::kCategorical:
      return ConformValue(p, Value::Text(std::string(text)));
    case ParamType::kBool:
      if (text == "true" || text == "false") return Value::Bool(text == "true");
      return Invalid(p.name, "expected true or false, got " + quoted);
  }
  return Invalid(p.name, "unknown type");
}

absl::StatusOr<SearchSpace> NarrowSearchSpace(const SearchSpace& base, const std::vector<ParamSpec>& narrowing) {
  SearchSpace out = base;
  std::set<std::string> seen;
  for (const ParamSpec& n : narrowing) {
    if (!seen.insert(n.name).second) return Invalid(n.name, "narrowed twice");
    const ParamSpec* b = base.Find(n.name);
    if (b == nullptr) {
      return Invalid(n.name, "not in the " + std::string(BackboneName(base.backbone)) + " search space");
    }
    if (n.type != b->type) {
      return Invalid(n.name, "is " + std::string(ParamTypeName(b->type)) + ", not " +
                                 std::string(ParamTypeName(n.type)));
    }
    ParamSpec merged = n;
    merged.description = n.description.empty() ? b->description : n.description;
    merged.condition_param = b->condition_param;
    merged.condition_value = b->condition_value;
    if (!merged.default_value.is_set()) merged.default_value = b->default_value;
    if (n.type == ParamType::kInt || n.type == ParamType::kFloat) {
      if (n.min < b->min || n.max > b->max) {
        return Invalid(n.name, "narrowed bounds [" + Num(n.min) + ", " + Num(n.max) + "] leave [" +
                                   Num(b->min) + ", " + Num(b->max) + "]");
      }
      // A narrowed range without its own default starts from the nearest bound.
      if (!ValidateValue(merged, merged.default_value).ok() && !n.default_value.is_set()) {
        const double d = std::clamp(b->default_value.number().value_or(n.min), n.min, n.max);
        merged.default_value = n.type == ParamType::kInt ? Value::Int(std::llround(d)) : Value::Float(d);
      }
    } else if (n.type == ParamType::kCategorical) {
      for (const std::string& c : n.choices) {
        if (std::find(b->choices.begin(), b->choices.end(), c) == b->choices.end()) {
          return Invalid(n.name, "choice \"" + c + "\" is not one of the backbone's choices");
        }
      }
      if (!ValidateValue(merged, merged.default_value).ok() && !n.default_value.is_set() &&
          !n.choices.empty()) {
        merged.default_value = Value::Text(n.choices.front());
      }
    }
    if (absl::StatusOr<Value> typed = ConformValue(merged, merged.default_value); typed.ok()) {
      merged.default_value = *std::move(typed);
    }
    RETURN_IF_ERROR(ValidateParamSpec(merged));
    for (ParamSpec& p : out.params) {
      if (p.name == n.name) p = merged;
    }
  }
  return out;
}

Settings WithDefaults(const SearchSpace& space, const Settings& settings) {
  Settings out = settings;
  for (const ParamSpec& p : space.params) {
    const bool named = std::any_of(settings.begin(), settings.end(),
                                   [&](const auto& s) { return s.first == p.name; });
    if (!named) out.emplace_back(p.name, p.default_value);
  }
  return out;
}

namespace {

// The name of another backbone whose space has `name`, or "" (a parameter that only
// shapes another backbone would be silently ignored).
std::string_view OtherBackboneWith(Backbone backbone, std::string_view name) {
  for (Backbone other : kBackbones) {
    if (other != backbone && DefaultSearchSpace(other).Find(name) != nullptr) return BackboneName(other);
  }
  return "";
}

}  // namespace

absl::StatusOr<TrainConfig> ValidateConfiguration(const SearchSpace& space, const Settings& settings) {
  std::set<std::string> seen;
  for (const auto& [name, value] : settings) {
    if (!seen.insert(name).second) return Invalid(name, "set twice");
    if (name == "backbone") return Invalid(name, "is chosen by the study, not the configuration");
    if (const ParamSpec* p = space.Find(name); p != nullptr) {
      RETURN_IF_ERROR(ValidateValue(*p, value));
    } else if (const std::string_view owner = OtherBackboneWith(space.backbone, name);
               !owner.empty() && DefaultSearchSpace(space.backbone).Find(name) == nullptr) {
      return Invalid(name, "not in the " + std::string(BackboneName(space.backbone)) +
                               " search space (it is a " + std::string(owner) + " parameter)");
    }
  }
  // Names outside the space must be settings the trainer knows; ApplySettings names
  // unknown ones and checks combinations.
  return ApplySettings(BackboneBaseConfig(space.backbone), WithDefaults(space, settings));
}

}  // namespace vmle::space
