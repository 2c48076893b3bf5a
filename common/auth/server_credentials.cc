#include "common/auth/server_credentials.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "common/auth/caller.h"
#include "grpc/grpc.h"
#include "grpc/grpc_security.h"

namespace vmle::auth {
namespace {

absl::string_view View(const grpc_slice& slice) {
  return {reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)), GRPC_SLICE_LENGTH(slice)};
}

// The core processor: `state` is a heap-allocated shared_ptr<const Authorizer>.
void Process(void* state, grpc_auth_context* context, const grpc_metadata* md, size_t num_md,
             grpc_process_auth_metadata_done_cb done, void* user_data) {
  const auto& authorizer = *static_cast<std::shared_ptr<const Authorizer>*>(state);
  absl::string_view method;
  const grpc_metadata* authorization = nullptr;
  for (size_t i = 0; i < num_md; ++i) {
    const absl::string_view key = View(md[i].key);
    if (key == ":path") method = View(md[i].value);
    if (key == "authorization") authorization = &md[i];
  }
  const absl::Status status =
      authorizer->Check(method, authorization != nullptr ? View(authorization->value) : "");
  if (status.ok()) {
    if (authorization != nullptr && context != nullptr) {
      absl::string_view token = View(authorization->value);
      if (absl::StartsWith(token, "Bearer ")) token.remove_prefix(7);
      const std::string fingerprint = TokenFingerprint(token);
      grpc_auth_context_add_cstring_property(context, kCallerProperty, fingerprint.c_str());
    }
    done(user_data, authorization, authorization != nullptr ? 1 : 0, nullptr, 0, GRPC_STATUS_OK, nullptr);
    return;
  }
  const std::string message(status.message());
  done(user_data, nullptr, 0, nullptr, 0, static_cast<grpc_status_code>(status.code()), message.c_str());
}

void Destroy(void* state) { delete static_cast<std::shared_ptr<const Authorizer>*>(state); }

class AuthorizingServerCredentials final : public grpc::ServerCredentials {
 public:
  AuthorizingServerCredentials(std::shared_ptr<const Authorizer> authorizer,
                               std::optional<ServerTlsPems> tls)
      : authorizer_(std::move(authorizer)), tls_(std::move(tls)) {}

  // The authorizer is fixed at construction; ServerBuilder never calls this.
  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {}

 private:
  int AddPortToServer(const std::string& address, grpc_server* server) override {
    grpc_server_credentials* credentials = nullptr;
    if (tls_.has_value()) {
      grpc_ssl_pem_key_cert_pair pair{tls_->private_key.c_str(), tls_->cert_chain.c_str()};
      const bool verify_clients = !tls_->client_ca.empty();
      credentials = grpc_ssl_server_credentials_create_ex(
          verify_clients ? tls_->client_ca.c_str() : nullptr, &pair, 1,
          verify_clients ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                         : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
          nullptr);
    } else {
      credentials = grpc_insecure_server_credentials_create();
    }
    if (credentials == nullptr) return 0;
    grpc_server_credentials_set_auth_metadata_processor(
        credentials, {&Process, &Destroy, new std::shared_ptr<const Authorizer>(authorizer_)});
    const int port = grpc_server_add_http2_port(server, address.c_str(), credentials);
    grpc_server_credentials_release(credentials);
    return port;
  }

  const std::shared_ptr<const Authorizer> authorizer_;
  const std::optional<ServerTlsPems> tls_;
};

}  // namespace

std::shared_ptr<grpc::ServerCredentials> MakeAuthorizingServerCredentials(
    std::shared_ptr<const Authorizer> authorizer, std::optional<ServerTlsPems> tls) {
  return std::make_shared<AuthorizingServerCredentials>(std::move(authorizer), std::move(tls));
}

}  // namespace vmle::auth
