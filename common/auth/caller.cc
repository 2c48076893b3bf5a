#include "common/auth/caller.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/security/auth_context.h"

namespace vmle::auth {

std::string TokenFingerprint(absl::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), 8));
}

std::string CallerOf(const grpc::ServerContextBase* context) {
  if (context == nullptr) return "";
  const std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth != nullptr) {
    const std::vector<grpc::string_ref> values = auth->FindPropertyValues(kCallerProperty);
    if (!values.empty()) return absl::StrCat("token:", absl::string_view(values[0].data(), values[0].size()));
  }
  // "ipv4:10.0.0.7:51234", "ipv6:[::1]:51234", "unix:/path": drop the port.
  const std::string address = context->peer();
  absl::string_view peer = address;
  if (absl::StartsWith(peer, "ipv4:") || absl::StartsWith(peer, "ipv6:")) {
    const size_t colon = peer.rfind(':');
    if (colon != absl::string_view::npos && colon > 5) peer = peer.substr(0, colon);
  }
  return absl::StrCat("peer:", peer);
}

}  // namespace vmle::auth
