// A synthetic dataset with real sequential structure, for demos and tests.
//
// Items are split into clusters (think product categories) and carry a Zipf
// popularity. Every item has a few likely successors, mostly in its own
// cluster and drawn by popularity (think accessories bought after a product).
// Every user prefers a small, weighted mix of clusters. A sequence starts with
// an item from the user's clusters; each next item follows the successor
// table of the previous item with probability transition_strength, and
// otherwise is a fresh draw from the user's clusters by popularity. An item
// never directly follows itself (unless there is only one item). Lengths are
// min_length plus a geometric tail that is short for most users and long for
// a fifth of them: the mean is about mean_length, the median below it and the
// tail long, as in Amazon data.
//
// Hence a model that looks at the last item beats popularity by a wide
// margin, and a model that also infers the user's clusters does better still.
//
// Determinism: the same options give the same dataset on every platform; the
// generator uses std::mt19937_64 with its own distribution code (the standard
// distributions are implementation-defined).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "services/trainer/data/dataset.h"
#include "services/trainer/util/status.h"

namespace vmle::trainer {

struct SyntheticOptions {
  int64_t num_users = 2000;          // every user gets a sequence
  int64_t num_items = 1000;          // upper bound: items never drawn are left out
  int32_t num_clusters = 20;         // item clusters (capped at num_items)
  double mean_length = 9.0;          // mean sequence length (Amazon-like)
  int32_t min_length = 5;            // shortest sequence
  int32_t max_length = 200;          // longest sequence
  double popularity_skew = 0.7;      // Zipf exponent of item popularity; 0 = uniform
  double transition_strength = 0.7;  // P(next item comes from the successor table)
  int32_t successors_per_item = 4;   // likely successors per item (<= 1000)
  double same_cluster_share = 0.8;   // P(a successor lies in its item's cluster)
  int32_t max_user_clusters = 3;     // each user prefers 1..this many clusters
  uint64_t seed = 1;                 // everything is a function of the seed
};

// InvalidArgument naming the first out-of-range field: counts must be
// positive (min_length >= 1, max_length >= min_length), probabilities in
// [0, 1], popularity_skew >= 0 and finite.
Status ValidateSyntheticOptions(const SyntheticOptions& options);

// Generates the dataset. Item ids are dense and numbered in order of first
// appearance (users in id order), so num_items may be below the requested
// upper bound. Precondition: ValidateSyntheticOptions(options).ok(); invalid
// fields are clamped into range rather than crashing.
Dataset GenerateSynthetic(const SyntheticOptions& options);

}  // namespace vmle::trainer
