// vmle-train: trains one configuration on one dataset from the command line.
//
//   vmle-train --data=Beauty.txt [--format=seq] [--backbone=sasrec|hstu]
//              [--set key=value ...] [--threads=N] [--device=cpu|cuda:N] [--json]
//   vmle-train --synthetic [--synthetic_users=N] [--synthetic_items=N] ...
//
// Settings apply on top of the backbone's reference configuration (its search-space
// defaults, space/search_space.h). A progress line per epoch goes to stderr; the
// result to stdout (JSON with --json).
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "services/trainer/cli/json_writer.h"
#include "services/trainer/data/readers.h"
#include "services/trainer/data/synthetic.h"
#include "services/trainer/train/trainer.h"
#include "services/trainer/util/allocator.h"
#include "services/trainer/util/configuration.h"

namespace vmle::trainer {
namespace {

constexpr char kUsage[] =
    "usage: vmle-train (--data=FILE [--format=seq|amazon2014|amazon2023|recbole|movielens|csv]\n"
    "                   [--k_core=K] [--max_history=N] | --synthetic [--synthetic_users=N]\n"
    "                   [--synthetic_items=N] [--synthetic_seed=S])\n"
    "                  [--backbone=sasrec|hstu] [--set key=value ...] [--threads=N]\n"
    "                  [--device=cpu|cuda:N] [--seed=S] [--json] [--quiet]\n";

struct Args {
  std::string data;
  std::string format = "seq";
  bool synthetic = false;
  SyntheticOptions synthetic_options;
  ReaderOptions reader;
  std::vector<std::pair<std::string, std::string>> settings;
  bool json = false;
  bool quiet = false;
};

Status ParseIntFlag(const std::string& name, const std::string& value, int64_t& out) {
  try {
    size_t used = 0;
    out = std::stoll(value, &used);
    if (used != value.size()) throw std::invalid_argument(value);
    return OkStatus();
  } catch (const std::exception&) {
    return InvalidArgumentError("--" + name + ": expected an integer, got \"" + value + "\"");
  }
}

Status AddSetting(const std::string& text, Args& args) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return InvalidArgumentError("--set: expected key=value, got \"" + text + "\"");
  }
  args.settings.emplace_back(text.substr(0, eq), text.substr(eq + 1));
  return OkStatus();
}

StatusOr<Args> ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") return InvalidArgumentError("");
    if (arg.rfind("--", 0) != 0) return InvalidArgumentError("unexpected argument \"" + arg + "\"");
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto take = [&]() -> StatusOr<std::string> {
      if (value) return *value;
      if (i + 1 >= argc) return InvalidArgumentError("--" + name + " needs a value");
      return std::string(argv[++i]);
    };
    if (name == "json") { args.json = true; continue; }
    if (name == "quiet") { args.quiet = true; continue; }
    if (name == "synthetic") { args.synthetic = true; continue; }
    TRAINER_ASSIGN_OR_RETURN(std::string v, take());
    int64_t n = 0;
    if (name == "data") {
      args.data = v;
    } else if (name == "format") {
      args.format = v;
    } else if (name == "set") {
      TRAINER_RETURN_IF_ERROR(AddSetting(v, args));
    } else if (name == "backbone" || name == "threads" || name == "device" || name == "seed") {
      args.settings.emplace_back(name, v);
    } else if (name == "k_core") {
      TRAINER_RETURN_IF_ERROR(ParseIntFlag(name, v, n));
      args.reader.k_core = static_cast<int>(n);
    } else if (name == "max_history") {
      TRAINER_RETURN_IF_ERROR(ParseIntFlag(name, v, n));
      args.reader.max_length = static_cast<int>(n);
    } else if (name == "synthetic_users") {
      TRAINER_RETURN_IF_ERROR(ParseIntFlag(name, v, args.synthetic_options.num_users));
    } else if (name == "synthetic_items") {
      TRAINER_RETURN_IF_ERROR(ParseIntFlag(name, v, args.synthetic_options.num_items));
    } else if (name == "synthetic_seed") {
      TRAINER_RETURN_IF_ERROR(ParseIntFlag(name, v, n));
      args.synthetic_options.seed = static_cast<uint64_t>(n);
    } else {
      return InvalidArgumentError("unknown flag --" + name);
    }
  }
  if (args.data.empty() == !args.synthetic) {
    return InvalidArgumentError("give exactly one of --data=FILE and --synthetic");
  }
  return args;
}

// The configuration the `--set` text gives, on top of the reference configuration of
// the backbone it names (the last backbone setting; sasrec when none).
StatusOr<TrainConfig> ConfigFromSettings(const std::vector<std::pair<std::string, std::string>>& text) {
  TRAINER_ASSIGN_OR_RETURN(const Settings settings, FromAbsl(space::ParseSettings(text)));
  TrainConfig named;
  for (const auto& [name, value] : settings) {
    if (name != "backbone") continue;
    TRAINER_ASSIGN_OR_RETURN(named, FromAbsl(space::ApplySettings(TrainConfig{}, {{name, value}})));
  }
  const Backbone backbone = named.backbone;
  TRAINER_ASSIGN_OR_RETURN(const TrainConfig reference,
                           FromAbsl(space::ApplySettings(space::BackboneBaseConfig(backbone),
                                                         space::WithDefaults(space::DefaultSearchSpace(backbone), {}))));
  return FromAbsl(space::ApplySettings(reference, settings));
}

void WriteMetrics(JsonWriter& json, const RankingMetrics& m) {
  json.BeginObject()
      .Key("recall@5").Number(m.recall_at_5)
      .Key("recall@10").Number(m.recall_at_10)
      .Key("recall@20").Number(m.recall_at_20)
      .Key("ndcg@5").Number(m.ndcg_at_5)
      .Key("ndcg@10").Number(m.ndcg_at_10)
      .Key("ndcg@20").Number(m.ndcg_at_20)
      .Key("mrr").Number(m.mrr)
      .Key("num_users").Int(m.num_users)
      .EndObject();
}

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

std::string ResultJson(const Args& args, const DatasetProfile& profile, const TrainConfig& config,
                       const TrainResult& result) {
  JsonWriter json;
  json.BeginObject();
  json.Key("dataset").BeginObject()
      .Key("path").String(args.synthetic ? "synthetic" : args.data)
      .Key("users").Int(profile.num_users)
      .Key("items").Int(profile.num_items)
      .Key("interactions").Int(profile.num_interactions)
      .Key("mean_length").Number(profile.mean_length)
      .EndObject();
  json.Key("config").BeginObject();
  for (const auto& [name, value] : space::DescribeConfig(config)) json.Key(name).String(value);
  json.EndObject();
  double train_seconds = 0, eval_seconds = 0;
  int64_t tokens = 0, pairs = 0, targets = 0;
  json.Key("epochs").BeginArray();
  for (const EpochReport& e : result.epochs) {
    json.BeginObject()
        .Key("epoch").Int(e.epoch)
        .Key("train_loss").Number(e.train_loss)
        .Key("epoch_seconds").Number(e.epoch_seconds)
        .Key("eval_seconds").Number(e.eval_seconds)
        .Key("samples_per_second").Number(e.samples_per_second)
        .Key("validation");
    WriteMetrics(json, e.validation);
    json.EndObject();
    train_seconds += e.epoch_seconds;
    eval_seconds += e.eval_seconds;
    tokens += e.tokens;
    pairs += e.attention_pairs;
    targets += e.targets;
  }
  json.EndArray();
  const double n = std::max<size_t>(result.epochs.size(), 1);
  json.Key("best_epoch").Int(result.best_epoch);
  json.Key("validation");
  WriteMetrics(json, result.validation);
  json.Key("test");
  WriteMetrics(json, result.test);
  json.Key("seconds_per_epoch").Number(train_seconds / n)
      .Key("seconds_per_eval").Number(eval_seconds / n)
      .Key("test_eval_seconds").Number(result.test_eval_seconds)
      .Key("train_seconds").Number(result.train_seconds)
      .Key("tokens_per_epoch").Number(tokens / n)
      .Key("attention_pairs_per_epoch").Number(pairs / n)
      .Key("targets_per_epoch").Number(targets / n)
      .Key("num_parameters").Int(result.num_parameters)
      .Key("peak_rss_mib").Number(PeakRssMiB())
      .Key("stopped_by_caller").Bool(result.stopped_by_caller);
  json.EndObject();
  return json.str();
}

int Run(int argc, char** argv) {
  KeepFreedMemoryForReuse();
  auto args = ParseArgs(argc, argv);
  if (!args.ok()) {
    if (!args.status().message().empty()) std::cerr << "vmle-train: " << args.status().message() << "\n";
    std::cerr << kUsage;
    return 2;
  }
  auto config = ConfigFromSettings(args->settings);
  if (!config.ok()) {
    std::cerr << "vmle-train: " << config.status().message() << "\n";
    return 2;
  }
  Dataset dataset;
  if (args->synthetic) {
    dataset = GenerateSynthetic(args->synthetic_options);
  } else {
    auto format = ParseDatasetFormat(args->format);
    if (!format.ok()) {
      std::cerr << "vmle-train: --format: " << format.status().message() << "\n";
      return 2;
    }
    auto read = ReadDataset(args->data, *format, args->reader);
    if (!read.ok()) {
      std::cerr << "vmle-train: " << read.status().ToString() << "\n";
      return 1;
    }
    dataset = std::move(*read);
  }
  const DatasetProfile profile = ComputeProfile(dataset);
  if (!args->quiet) {
    std::fprintf(stderr, "dataset: %lld users, %lld items, %lld interactions, mean length %.2f\n",
                 static_cast<long long>(profile.num_users), static_cast<long long>(profile.num_items),
                 static_cast<long long>(profile.num_interactions), profile.mean_length);
  }
  const std::string metric = config->select_metric;
  const int64_t max_epochs = config->max_epochs;
  TrainHooks hooks;
  hooks.on_epoch = [&](const EpochReport& e) {
    if (!args->quiet) {
      // The selection metric, and NDCG@10 beside it unless that is the selection metric.
      char also[32] = "";
      if (metric != "ndcg@10") std::snprintf(also, sizeof(also), " ndcg@10 %.4f", e.validation.ndcg_at_10);
      std::fprintf(stderr, "epoch %lld/%lld loss %.4f val %s %.4f%s (%.1f s train, %.2f s eval, %.0f targets/s)\n",
                   static_cast<long long>(e.epoch), static_cast<long long>(max_epochs), e.train_loss,
                   metric.c_str(), e.validation.Get(metric), also, e.epoch_seconds, e.eval_seconds,
                   e.samples_per_second);
    }
    return true;
  };
  auto result = Train(dataset, *config, hooks);
  if (!result.ok()) {
    std::cerr << "vmle-train: " << result.status().ToString() << "\n";
    return 1;
  }
  if (args->json) {
    std::cout << ResultJson(*args, profile, *config, *result) << "\n";
  } else {
    std::printf("best epoch %lld: val recall@10 %.4f ndcg@10 %.4f | test recall@10 %.4f "
                "ndcg@10 %.4f recall@20 %.4f ndcg@20 %.4f mrr %.4f\n",
                static_cast<long long>(result->best_epoch), result->validation.recall_at_10,
                result->validation.ndcg_at_10, result->test.recall_at_10, result->test.ndcg_at_10,
                result->test.recall_at_20, result->test.ndcg_at_20, result->test.mrr);
  }
  return 0;
}

}  // namespace
}  // namespace vmle::trainer

int main(int argc, char** argv) { return vmle::trainer::Run(argc, argv); }
