// Server credentials that authorise every call with an Authorizer, over TLS or
// plaintext.
//
// Why not a server interceptor: gRPC 1.51's experimental server interceptors can
// observe a call but not fail it with a status of their choice (TryCancel gives
// CANCELLED). Why not grpc::ServerCredentials::SetAuthMetadataProcessor: the C++
// InsecureServerCredentials asserts when it is called, so plaintext servers could
// not be protected. The core library, however, runs an auth metadata processor on
// every call of a port whatever its credentials, before any handler, and fails the
// call with the status code the processor returns; it sees the request headers,
// `:path` (the method) among them. So these credentials build the core credentials
// themselves (insecure, or SSL from PEM strings) and attach a processor that calls
// Authorizer::Check. The `authorization` header is consumed: handlers never see it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/auth/authorizer.h"
#include "grpcpp/security/server_credentials.h"

namespace vmle::auth {

// PEM contents (not paths) of a TLS server identity.
struct ServerTlsPems {
  std::string cert_chain;
  std::string private_key;
  // When not empty, clients must present a certificate this bundle signed.
  std::string client_ca;
};

// Credentials for ServerBuilder::AddListeningPort. `authorizer` must not be null; it
// is shared with the listening port for as long as the server lives. `tls` unset:
// plaintext.
std::shared_ptr<grpc::ServerCredentials> MakeAuthorizingServerCredentials(
    std::shared_ptr<const Authorizer> authorizer, std::optional<ServerTlsPems> tls);

}  // namespace vmle::auth
