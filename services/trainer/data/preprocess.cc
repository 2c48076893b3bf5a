#include "services/trainer/data/preprocess.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

namespace vmle::trainer {
namespace {

// Compressed adjacency: the interactions of node n are
// edges[offsets[n] .. offsets[n + 1]), in file order.
struct Adjacency {
  std::vector<uint32_t> offsets;
  std::vector<uint32_t> edges;
};

template <typename NodeOf>
Adjacency BuildAdjacency(size_t num_nodes, size_t num_edges, NodeOf node_of) {
  Adjacency adj;
  adj.offsets.assign(num_nodes + 1, 0);
  for (size_t e = 0; e < num_edges; ++e) ++adj.offsets[node_of(e) + 1];
  for (size_t n = 0; n < num_nodes; ++n) adj.offsets[n + 1] += adj.offsets[n];
  adj.edges.resize(num_edges);
  std::vector<uint32_t> next(adj.offsets.begin(), adj.offsets.end() - 1);
  for (size_t e = 0; e < num_edges; ++e) {
    adj.edges[next[node_of(e)]++] = static_cast<uint32_t>(e);
  }
  return adj;
}

// One side (users or items) of the peeling in KCoreMask.
struct PeelSide {
  Adjacency adj;
  std::vector<uint32_t> degree;
  std::vector<bool> removed;
  std::vector<uint32_t> queue;
  int min_degree = 0;

  void Init(Adjacency a, int min) {
    adj = std::move(a);
    min_degree = std::max(min, 0);
    const size_t n = adj.offsets.size() - 1;
    degree.resize(n);
    removed.assign(n, false);
    for (size_t i = 0; i < n; ++i) {
      degree[i] = adj.offsets[i + 1] - adj.offsets[i];
      if (degree[i] > 0) MaybeRemove(static_cast<uint32_t>(i));
    }
  }
  void MaybeRemove(uint32_t node) {
    if (removed[node] || degree[node] >= static_cast<uint32_t>(min_degree)) return;
    removed[node] = true;
    queue.push_back(node);
  }
};

// Removes `node` of `side`: kills its live edges and lets the other side's
// endpoints fall below their threshold.
template <typename OtherOf>
void Peel(uint32_t node, PeelSide& side, PeelSide& other, std::vector<bool>& alive,
          OtherOf other_of) {
  for (uint32_t k = side.adj.offsets[node]; k < side.adj.offsets[node + 1]; ++k) {
    const uint32_t e = side.adj.edges[k];
    if (!alive[e]) continue;
    alive[e] = false;
    const uint32_t o = other_of(e);
    --other.degree[o];
    other.MaybeRemove(o);
  }
}

struct TimedItem {
  int64_t timestamp;
  int32_t item;
};

// Surviving interactions grouped by user key, each group stable-sorted by time.
struct UserGroups {
  std::vector<size_t> offsets;  // group of user u: entries[offsets[u] .. offsets[u + 1])
  std::vector<TimedItem> entries;
};

UserGroups GroupByUser(const InteractionLog& log, const std::vector<bool>& alive) {
  UserGroups groups;
  const size_t num_users = static_cast<size_t>(log.num_user_keys);
  groups.offsets.assign(num_users + 1, 0);
  for (size_t e = 0; e < log.interactions.size(); ++e) {
    if (alive[e]) ++groups.offsets[static_cast<size_t>(log.interactions[e].user) + 1];
  }
  for (size_t u = 0; u < num_users; ++u) groups.offsets[u + 1] += groups.offsets[u];
  groups.entries.resize(groups.offsets[num_users]);
  std::vector<size_t> next(groups.offsets.begin(), groups.offsets.end() - 1);
  for (size_t e = 0; e < log.interactions.size(); ++e) {
    if (!alive[e]) continue;
    const RawInteraction& in = log.interactions[e];
    groups.entries[next[static_cast<size_t>(in.user)]++] = {in.timestamp, in.item};
  }
  for (size_t u = 0; u < num_users; ++u) {
    std::stable_sort(
        groups.entries.begin() + static_cast<ptrdiff_t>(groups.offsets[u]),
        groups.entries.begin() + static_cast<ptrdiff_t>(groups.offsets[u + 1]),
        [](const TimedItem& a, const TimedItem& b) { return a.timestamp < b.timestamp; });
  }
  return groups;
}

// Copies each non-empty group (its last `max_length` entries) into a sequence
// of item key indices; users keep their key order.
std::vector<std::vector<int32_t>> CutSequences(const UserGroups& groups, int max_length) {
  std::vector<std::vector<int32_t>> sequences;
  for (size_t u = 0; u + 1 < groups.offsets.size(); ++u) {
    size_t begin = groups.offsets[u];
    const size_t end = groups.offsets[u + 1];
    if (begin == end) continue;
    if (max_length > 0 && end - begin > static_cast<size_t>(max_length)) {
      begin = end - static_cast<size_t>(max_length);
    }
    std::vector<int32_t>& seq = sequences.emplace_back();
    seq.reserve(end - begin);
    for (size_t k = begin; k < end; ++k) seq.push_back(groups.entries[k].item);
  }
  return sequences;
}

// Rewrites item key indices in `sequences` to dense ids from 1; returns the
// number of items.
int64_t ReindexItems(std::vector<std::vector<int32_t>>& sequences, int32_t num_item_keys,
                     ItemIdOrder order) {
  std::vector<int32_t> new_id(static_cast<size_t>(num_item_keys), 0);
  int32_t next = 0;
  if (order == ItemIdOrder::kKeyIndex) {
    for (const auto& seq : sequences) {
      for (int32_t key : seq) new_id[static_cast<size_t>(key)] = 1;
    }
    for (int32_t& id : new_id) id = id ? ++next : 0;
  }
  for (auto& seq : sequences) {
    for (int32_t& key : seq) {
      int32_t& id = new_id[static_cast<size_t>(key)];
      if (id == 0) id = ++next;
      key = id;
    }
  }
  return next;
}

Status CheckLog(const InteractionLog& log, std::string_view source) {
  if (log.num_user_keys < 0 || log.num_item_keys < 0) {
    return InvalidArgumentError(std::string(source) + ": negative key space size");
  }
  if (log.interactions.size() >= std::numeric_limits<uint32_t>::max()) {
    return ResourceExhaustedError(std::string(source) +
                                  ": more than 4294967294 interactions are not supported");
  }
  for (size_t e = 0; e < log.interactions.size(); ++e) {
    const RawInteraction& in = log.interactions[e];
    if (in.user < 0 || in.user >= log.num_user_keys || in.item < 0 ||
        in.item >= log.num_item_keys) {
      return InvalidArgumentError(std::string(source) + ": interaction " + std::to_string(e) +
                                  " has a key index out of range");
    }
  }
  return OkStatus();
}

Status EmptyResultError(const InteractionLog& log, const PreprocessOptions& options,
                        std::string_view source) {
  if (log.interactions.empty()) {
    return FailedPreconditionError(
        std::string(source) +
        ": contains no interactions; check that the file is not empty and that the "
        "dataset format matches the file");
  }
  return FailedPreconditionError(
      std::string(source) + ": no interactions left after filtering (" +
      std::to_string(log.interactions.size()) + " read; k_core=" + std::to_string(options.k_core) +
      ", min_length=" + std::to_string(options.min_length) + "); lower k_core or min_length");
}

}  // namespace

Status ValidatePreprocessOptions(const PreprocessOptions& options) {
  if (options.k_core < 0) return InvalidArgumentError("k_core must be >= 0 (0 = no filter)");
  if (options.min_length < 0) {
    return InvalidArgumentError("min_length must be >= 0 (0 = no filter)");
  }
  if (options.max_length < 0) {
    return InvalidArgumentError("max_length must be >= 0 (0 = keep all)");
  }
  if (options.max_length > 0 && options.min_length > options.max_length) {
    return InvalidArgumentError("min_length (" + std::to_string(options.min_length) +
                                ") must not exceed max_length (" +
                                std::to_string(options.max_length) + ")");
  }
  return OkStatus();
}

std::vector<bool> KCoreMask(const InteractionLog& log, int user_min, int item_min) {
  const auto& in = log.interactions;
  std::vector<bool> alive(in.size(), true);
  if (user_min <= 1 && item_min <= 1) return alive;
  auto user_of = [&](size_t e) { return static_cast<uint32_t>(in[e].user); };
  auto item_of = [&](size_t e) { return static_cast<uint32_t>(in[e].item); };
  PeelSide users;
  PeelSide items;
  users.Init(BuildAdjacency(static_cast<size_t>(log.num_user_keys), in.size(), user_of), user_min);
  items.Init(BuildAdjacency(static_cast<size_t>(log.num_item_keys), in.size(), item_of), item_min);
  while (!users.queue.empty() || !items.queue.empty()) {
    while (!users.queue.empty()) {
      const uint32_t u = users.queue.back();
      users.queue.pop_back();
      Peel(u, users, items, alive, item_of);
    }
    while (!items.queue.empty()) {
      const uint32_t i = items.queue.back();
      items.queue.pop_back();
      Peel(i, items, users, alive, user_of);
    }
  }
  return alive;
}

StatusOr<Dataset> Preprocess(const InteractionLog& log, const PreprocessOptions& options,
                             std::string_view source) {
  TRAINER_RETURN_IF_ERROR(ValidatePreprocessOptions(options));
  TRAINER_RETURN_IF_ERROR(CheckLog(log, source));
  const std::vector<bool> alive =
      KCoreMask(log, std::max(options.k_core, options.min_length), options.k_core);
  Dataset dataset;
  dataset.sequences = CutSequences(GroupByUser(log, alive), options.max_length);
  dataset.num_users = static_cast<int64_t>(dataset.sequences.size());
  dataset.num_items = ReindexItems(dataset.sequences, log.num_item_keys, log.item_order);
  if (dataset.num_users == 0) return EmptyResultError(log, options, source);
  return dataset;
}

}  // namespace vmle::trainer
