// Client side of authentication and TLS: channels that present a bearer token on
// every call and, when configured, speak TLS (optionally with a client
// certificate, for servers started with --tls_client_ca).
//
// Two steps so that a failure (unreadable file) surfaces once, at startup:
//   ASSIGN_OR_RETURN(ClientSecurity security, LoadClientSecurity(options));
//   std::shared_ptr<grpc::Channel> channel = MakeClientChannel(address, security);
// The token is added by a client interceptor as `authorization: Bearer <token>`,
// which works over plaintext as well as TLS (gRPC's call credentials refuse to send
// over plaintext). It is never logged.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/channel_arguments.h"

namespace vmle::auth {

// Paths, as given by flags (AddClientFlags in common/config/server_flags.h).
struct ClientSecurityOptions {
  // File holding the bearer token (surrounding whitespace ignored); empty: none.
  std::string token_file;
  // PEM CA bundle that signed the server's certificate; setting it turns TLS on.
  std::string tls_ca_file;
  // PEM client certificate chain and key, for servers that verify clients; either
  // also turns TLS on (with the system's roots when tls_ca_file is empty).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Name the server's certificate must carry, when it differs from the address's host.
  std::string tls_server_name;
};

// The loaded form of ClientSecurityOptions: contents, not paths.
struct ClientSecurity {
  std::string token;
  bool tls = false;
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  std::string server_name;
};

// Reads the files. INVALID_ARGUMENT naming the file when one cannot be read, when
// the token file is empty, or when only one of cert and key is given.
absl::StatusOr<ClientSecurity> LoadClientSecurity(const ClientSecurityOptions& options);

// A channel to `address` (HOST:PORT) with `security` and the extra `arguments`.
std::shared_ptr<grpc::Channel> MakeClientChannel(const std::string& address,
                                                 const ClientSecurity& security,
                                                 grpc::ChannelArguments arguments = {});

}  // namespace vmle::auth
