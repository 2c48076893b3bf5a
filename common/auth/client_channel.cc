#include "common/auth/client_channel.h"

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/client_interceptor.h"

namespace vmle::auth {
namespace {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read '", path, "'"));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Adds the bearer token to the initial metadata of every call.
class TokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(std::string header) : header_(std::move(header)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", header_);
    }
    methods->Proceed();
  }

 private:
  const std::string header_;
};

class TokenInterceptorFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(const std::string& token) : header_(absl::StrCat("Bearer ", token)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo*) override {
    return new TokenInterceptor(header_);
  }

 private:
  const std::string header_;
};

}  // namespace

absl::StatusOr<ClientSecurity> LoadClientSecurity(const ClientSecurityOptions& options) {
  ClientSecurity security;
  if (!options.token_file.empty()) {
    ASSIGN_OR_RETURN(std::string token, ReadWholeFile(options.token_file, "auth token file"));
    security.token = std::string(absl::StripAsciiWhitespace(token));
    if (security.token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("auth token file '", options.token_file, "' is empty"));
    }
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("a TLS client certificate and its key must be given together");
  }
  security.tls = !options.tls_ca_file.empty() || !options.tls_cert_file.empty();
  if (!options.tls_ca_file.empty()) {
    ASSIGN_OR_RETURN(security.ca_pem, ReadWholeFile(options.tls_ca_file, "TLS CA file"));
  }
  if (!options.tls_cert_file.empty()) {
    ASSIGN_OR_RETURN(security.cert_pem, ReadWholeFile(options.tls_cert_file, "TLS client certificate"));
    ASSIGN_OR_RETURN(security.key_pem, ReadWholeFile(options.tls_key_file, "TLS client key"));
  }
  security.server_name = options.tls_server_name;
  return security;
}

std::shared_ptr<grpc::Channel> MakeClientChannel(const std::string& address,
                                                 const ClientSecurity& security,
                                                 grpc::ChannelArguments arguments) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (security.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = security.ca_pem;
    ssl.pem_private_key = security.key_pem;
    ssl.pem_cert_chain = security.cert_pem;
    credentials = grpc::SslCredentials(ssl);
    if (!security.server_name.empty()) arguments.SetSslTargetNameOverride(security.server_name);
  }
  if (security.token.empty()) return grpc::CreateCustomChannel(address, credentials, arguments);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<TokenInterceptorFactory>(security.token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(address, credentials, arguments,
                                                                  std::move(interceptors));
}

}  // namespace vmle::auth
