// Who is calling: the key that scopes per-caller state (request ids, caps on
// long-polls and watches).
//
// With authentication on, the caller is the bearer token the call was authorised
// with, as a fingerprint: the first 16 hex digits of its SHA-256, which the
// authorising credentials (server_credentials.h) attach to the call's auth context
// as the property kCallerProperty. The token itself never leaves the processor.
// With authentication off, the caller is the peer's address without its port, so
// every process of one host counts as one caller.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"

namespace vmle::auth {

inline constexpr char kCallerProperty[] = "vmle.caller";

// "token:<fingerprint>" or "peer:<host>"; "" when neither is known (an in-process
// call without a context).
std::string CallerOf(const grpc::ServerContextBase* context);

// The fingerprint of a bearer token (16 lowercase hex digits of its SHA-256).
std::string TokenFingerprint(absl::string_view token);

}  // namespace vmle::auth
