#include "services/agent/planner/heuristic/heuristic_knowledge.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/space/space_proto.h"
#include "services/agent/planner/space_sampling.h"

namespace vmle::agent::heuristic {
namespace {

// The numeric profile field `name`, or nullopt for an unknown name.
std::optional<double> Field(const vmle::v1::DatasetProfile& p, absl::string_view name) {
  if (name == "mean_length") return p.mean_length();
  if (name == "median_length") return p.median_length();
  if (name == "max_length") return static_cast<double>(p.max_length());
  if (name == "num_users") return static_cast<double>(p.num_users());
  if (name == "num_items") return static_cast<double>(p.num_items());
  if (name == "num_interactions") return static_cast<double>(p.num_interactions());
  if (name == "density") return p.density();
  if (name == "popularity_gini") return p.popularity_gini();
  if (name == "top1pct_share") return p.top1pct_share();
  return std::nullopt;
}

bool Compare(double v, absl::string_view op, double t) {
  if (op == "<") return v < t;
  if (op == "<=") return v <= t;
  if (op == ">") return v > t;
  return v >= t;
}

constexpr char kShort[] = "mean_length < 10";
constexpr char kLong[] = "mean_length >= 10";
constexpr char kLargeCatalogue[] = "num_items > 5000";
constexpr char kSmallCatalogue[] = "num_items <= 5000";

Move Scale(std::string knob, double factor, std::string condition, std::string mechanism, std::string risk) {
  return Move{std::move(knob), MoveKind::kScale, factor, space::Value(), std::move(condition), "", std::move(mechanism),
              std::move(risk)};
}

Move Shift(std::string knob, double delta, std::string condition, std::string mechanism, std::string risk) {
  return Move{std::move(knob), MoveKind::kShift, delta, space::Value(), std::move(condition), "", std::move(mechanism),
              std::move(risk)};
}

Move Set(std::string knob, space::Value value, std::string condition, std::string mechanism, std::string risk) {
  return Move{std::move(knob), MoveKind::kSet, 0, std::move(value), std::move(condition), "", std::move(mechanism),
              std::move(risk)};
}

std::vector<Move> BuildPriors() {
  std::vector<Move> m;
  // Optimisation first: the reference lr of Adam (3e-4) is conservative for small
  // recommenders, and a wrong lr hides every other effect.
  m.push_back(Scale("lr", 3.0, "",
                    "a larger Adam step converges within the epoch budget instead of stopping on a plateau",
                    "converges to a sharper minimum, overfits sooner or diverges"));
  // Short-sequence domains: the training-split priors and regularisation.
  m.push_back(Shift("transition_prior_weight", 0.2, kShort,
                    "with a few items per history, first-order item transitions from the training split carry "
                    "most of the sequential signal the model cannot learn from sparse data",
                    "too heavy a prior overrides the model's own ranking"));
  m.push_back(Shift("popularity_prior_weight", 0.2, kShort,
                    "sparse short histories leave many items under-trained; blending in popularity is a strong "
                    "fallback for them",
                    "too heavy a prior turns the ranking into a popularity list"));
  m.push_back(Set("tie_embeddings", space::Value::Bool(true), kShort,
                  "sharing input and output embeddings halves the item parameters and regularises sparse data",
                  "a tied table constrains the output space"));
  m.push_back(Shift("dropout", 0.1, kShort,
                    "short histories on a large catalogue overfit within a few epochs; more dropout regularises",
                    "underfits if the model is already small"));
  m.push_back(Shift("dropout", -0.1, kLong,
                    "long histories give many targets per user; less dropout lets the model use them",
                    "overfits sooner"));
  // The loss and its negatives depend on the catalogue size.
  m.push_back(Set("loss", space::Value::Text("full_softmax"), kSmallCatalogue,
                  "on a small catalogue the exact softmax is affordable and removes the sampling bias",
                  "costs time and memory linear in the catalogue"));
  m.push_back(Scale("num_negatives", 2.0, kLargeCatalogue,
                    "more sampled negatives bring the sampled softmax closer to the full one on a large catalogue",
                    "slower steps; diminishing returns"));
  // Capacity follows the data.
  m.push_back(Scale("hidden_dim", 0.5, kShort,
                    "sparse short-sequence data supports fewer parameters per item; a compact model generalises",
                    "underfits the frequent items"));
  m.push_back(Scale("hidden_dim", 2.0, kLong,
                    "long histories hold more signal per user; a wider model can use it", "overfits, slower"));
  m.push_back(Shift("num_blocks", 1.0, "",
                    "a second attention block models transitions that depend on more than the last item",
                    "more parameters to regularise"));
  m.push_back(Scale("max_len", 2.0, kLong, "long histories are cut off; a longer window keeps older context",
                    "quadratic attention cost"));
  m.push_back(Set("positions", space::Value::Text("rope"), kLong, "rotary positions generalise over long distances better than learned "
                                              "absolute ones", "none on short windows"));
  m.push_back(Shift("prior_recent_k", 1.0, "",
                    "starting the transition prior from the last two items smooths a noisy last click",
                    "older items dilute the immediate intent"));
  m.back().needs = "transition_prior_weight";
  m.push_back(Scale("lr", 1.0 / 3.0, "", "a smaller step when training is noisy or overfits in the first epochs",
                    "too slow to converge within the epoch budget"));
  m.push_back(Shift("attn_dropout", 0.1, kShort, "attention over a few items overfits to single positions",
                    "underfits"));
  m.push_back(Scale("num_heads", 2.0, "", "several heads attend to several recent items at once",
                    "narrower heads; must divide hidden_dim"));
  m.push_back(Set("feed_forward", space::Value::Text("swiglu"), "", "gated feed-forward layers train better at the same width",
                  "more parameters per block"));
  m.push_back(Scale("weight_decay", 10.0, kShort, "a stronger L2 penalty regularises sparse data",
                    "shrinks rare item embeddings towards zero"));
  // The co-occurrence prior and the top-K re-rank, last: on Beauty (one seed) they
  // gave no clear gain over the transition prior, so they come after the measured
  // levers.
  m.push_back(Shift("itemcf_prior_weight", 0.2, kShort,
                    "items that co-occur within a few positions in other users' training histories are likely "
                    "next; co-occurrence covers pairs a first-order transition never saw in that order",
                    "too heavy a prior overrides the model's own ranking"));
  m.push_back(Set("rerank_topk", space::Value::Int(50), kShort,
                  "re-ranking only the model's top 50 by the priors keeps the model's recall and lets the "
                  "priors order what it already found",
                  "no effect until a re-rank weight is raised"));
  m.push_back(Shift("rerank_itemcf_weight", 0.3, kShort,
                    "within the model's top K, items that co-occur with the latest items are the likelier next",
                    "too heavy a weight reorders the top K by co-occurrence alone"));
  m.back().needs = "rerank_topk";
  m.push_back(Shift("rerank_transition_weight", 0.3, kShort,
                    "within the model's top K, the direct successors of the latest item are the likelier next",
                    "too heavy a weight reorders the top K by transitions alone"));
  m.back().needs = "rerank_topk";
  m.push_back(Shift("itemcf_window", 2.0, kShort,
                    "a wider co-occurrence window finds neighbours that are bought a few steps apart",
                    "looser pairs dilute the strongest neighbours"));
  m.back().needs = "itemcf_prior_weight";
  return m;
}

// The verb of a direction: "raising", "lowering", "setting ... to".
std::string Verb(absl::string_view direction) {
  if (direction == "up") return "raising";
  if (direction == "down") return "lowering";
  return "setting";
}

}  // namespace

std::optional<ProfileCondition> ProfileCondition::Parse(absl::string_view text) {
  ProfileCondition c;
  if (absl::StripAsciiWhitespace(text).empty()) return c;
  for (absl::string_view part : absl::StrSplit(text, " and ")) {
    std::vector<absl::string_view> words = absl::StrSplit(absl::StripAsciiWhitespace(part), ' ', absl::SkipEmpty());
    Clause clause;
    if (words.size() != 3 || !absl::SimpleAtod(words[2], &clause.threshold)) return std::nullopt;
    if (words[1] != "<" && words[1] != "<=" && words[1] != ">" && words[1] != ">=") return std::nullopt;
    if (!Field(vmle::v1::DatasetProfile(), words[0]).has_value()) return std::nullopt;
    clause.field = std::string(words[0]);
    clause.op = std::string(words[1]);
    c.clauses_.push_back(std::move(clause));
  }
  return c;
}

std::optional<bool> ProfileCondition::Holds(const std::optional<vmle::v1::DatasetProfile>& profile) const {
  if (clauses_.empty()) return true;
  if (!profile.has_value()) return std::nullopt;
  for (const Clause& c : clauses_) {
    if (!Compare(*Field(*profile, c.field), c.op, c.threshold)) return false;
  }
  return true;
}

std::string LengthRegime(const vmle::v1::DatasetProfile& profile) {
  return profile.mean_length() < 10 ? kShort : kLong;
}

std::string CatalogueRegime(const vmle::v1::DatasetProfile& profile) {
  return profile.num_items() > 5000 ? kLargeCatalogue : kSmallCatalogue;
}

std::string Move::Direction() const {
  switch (kind) {
    case MoveKind::kScale: return amount >= 1.0 ? "up" : "down";
    case MoveKind::kShift: return amount >= 0.0 ? "up" : "down";
    case MoveKind::kSet: break;
  }
  return space::ValueText(value);
}

bool Multiplicative(const space::ParamSpec& param) {
  return param.log_scale || (param.type == space::ParamType::kInt && param.min > 0 && param.max >= 8 * param.min);
}

const std::vector<Move>& PriorMoves() {
  static const auto* priors = new std::vector<Move>(BuildPriors());
  return *priors;
}

std::vector<Move> GenericMoves(const space::SearchSpace& space) {
  std::vector<Move> out;
  for (const space::ParamSpec& p : space.params) {
    const std::string mechanism = "explores " + p.name + ": " + p.description;
    if (p.type == space::ParamType::kCategorical || p.type == space::ParamType::kBool) {
      for (int i = 0; i < NumChoices(p); ++i) {
        out.push_back(Set(p.name, space::FromProto(FromChoice(p, i)), "", mechanism, "an untested setting"));
      }
      continue;
    }
    const bool scale = Multiplicative(p);
    const double step = p.type == space::ParamType::kInt ? 1.0 : 0.1 * (p.max - p.min);
    for (int sign : {1, -1}) {
      out.push_back(scale ? Scale(p.name, sign > 0 ? 2.0 : 0.5, "", mechanism, "an untested value")
                          : Shift(p.name, sign * step, "", mechanism, "an untested value"));
    }
  }
  return out;
}

std::string MechanismOf(absl::string_view knob, absl::string_view direction) {
  for (const Move& m : PriorMoves()) {
    if (m.knob == knob && m.Direction() == direction) return m.mechanism;
  }
  return absl::StrCat(Verb(direction), " ", knob, " changes the model's capacity, regularisation or optimisation");
}

std::string RiskOf(absl::string_view knob, absl::string_view direction) {
  for (const Move& m : PriorMoves()) {
    if (m.knob == knob && m.Direction() == direction) return m.risk;
  }
  return "the change may interact with the other knobs of the best configuration";
}

std::string ChangePhrase(absl::string_view knob, absl::string_view direction) {
  if (direction == "up" || direction == "down") return absl::StrCat(Verb(direction), " ", knob);
  return absl::StrCat("setting ", knob, " to ", direction);
}

}  // namespace vmle::agent::heuristic
