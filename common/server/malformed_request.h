// Requests that do not parse. A request whose bytes are not its message (malformed,
// or a string field that is not UTF-8) reaches no handler, and gRPC answers INTERNAL
// with an empty message. ServiceHost installs this interceptor on every server: such
// an answer becomes INVALID_ARGUMENT naming the field protobuf rejected (for
// invalid UTF-8), or the method whose request did not parse.
//
// Threads: protobuf reports the field through its log handler on the thread that
// parses, which is the thread that runs the interceptor's receive hook on a
// synchronous server; the handler is installed once, process-wide, and passes
// protobuf's other log lines to vmle logging.
#pragma once

#include <memory>

#include "grpcpp/support/server_interceptor.h"

namespace vmle {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeMalformedRequestInterceptorFactory();

}  // namespace vmle
