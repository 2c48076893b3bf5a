#include "common/config/server_flags.h"

#include <algorithm>
#include <cctype>

namespace vmle {

std::string EnvName(const std::string& flag) {
  std::string name = flag.substr(flag.find_first_not_of('-'));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return c == '-' ? '_' : std::toupper(c); });
  return "VMLE_" + name;
}

void AddServerFlags(CLI::App& app, ServerOptions& server, std::string& log_level) {
  AddFlag(app, "--listen", server.listen, "gRPC address HOST:PORT (port 0: any free port)");
  AddFlag(app, "--metrics", server.metrics_listen,
          "Prometheus /metrics address HOST:PORT; \"off\" disables it");
  AddFlag(app, "--log_level", log_level, "debug, info, warn or error");
  AddFlag(app, "--ready_file", server.ready_file,
          "write {\"grpc_port\",\"metrics_port\",...} JSON here once serving");
  AddFlag(app, "--tls_cert", server.tls.cert_file, "PEM server certificate chain (enables TLS)");
  AddFlag(app, "--tls_key", server.tls.key_file, "PEM private key of --tls_cert");
  AddFlag(app, "--tls_client_ca", server.tls.client_ca_file,
          "PEM CA bundle; when set, clients must present a certificate it signed");
  AddFlag(app, "--auth_tokens_file", server.auth_tokens_file,
          "bearer tokens by role: a file of `role token` lines or a directory with one file per "
          "role (submitter, viewer, worker, agent); unset: authentication off");
  AddFlag(app, "--max_receive_message_bytes", server.max_receive_message_bytes,
          "largest request accepted; bigger ones fail with RESOURCE_EXHAUSTED")
      ->check(CLI::Range(1024, 1 << 30));
  app.add_option_function<int>(
         "--shutdown_grace_seconds",
         [&server](const int& s) { server.shutdown_grace = std::chrono::seconds(s); },
         "seconds in-flight calls may run after SIGTERM")
      ->envname("VMLE_SHUTDOWN_GRACE_SECONDS")
      ->check(CLI::Range(0, 3600));
}


void AddClientFlags(CLI::App& app, auth::ClientSecurityOptions& client, const std::string& prefix,
                    const std::string& peer) {
  const std::string flag = "--" + prefix;
  AddFlag(app, flag + "auth_token_file", client.token_file,
          "file holding the bearer token sent to the " + peer);
  AddFlag(app, flag + "tls_ca", client.tls_ca_file,
          "PEM CA bundle that signed the " + peer + "'s certificate (turns TLS on)");
  AddFlag(app, flag + "tls_cert", client.tls_cert_file,
          "PEM client certificate for a " + peer + " that verifies clients (turns TLS on)");
  AddFlag(app, flag + "tls_key", client.tls_key_file, "PEM private key of the client certificate");
  AddFlag(app, flag + "tls_server_name", client.tls_server_name,
          "name the " + peer + "'s certificate carries, when not the address's host");
}

}  // namespace vmle
