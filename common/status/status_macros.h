// Early-return helpers for absl::Status and absl::StatusOr.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define VMLE_CONCAT_INNER_(a, b) a##b
#define VMLE_CONCAT_(a, b) VMLE_CONCAT_INNER_(a, b)

// Returns `expr` (an absl::Status) from the enclosing function if it is not OK.
#define RETURN_IF_ERROR(expr)                 \
  do {                                        \
    ::absl::Status _vmle_status = (expr);     \
    if (!_vmle_status.ok()) return _vmle_status; \
  } while (0)

// `lhs = *expr` for an absl::StatusOr, or returns its status from the enclosing
// function. `lhs` may declare a variable: ASSIGN_OR_RETURN(auto x, MakeX());
#define ASSIGN_OR_RETURN(lhs, expr) \
  VMLE_ASSIGN_OR_RETURN_IMPL_(VMLE_CONCAT_(_vmle_statusor_, __LINE__), lhs, expr)
#define VMLE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return std::move(tmp).status();    \
  lhs = std::move(tmp).value()
