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
  app.add_option_function<int>(
         "--shutdown_grace_seconds",
         [&server](const int& s) { server.shutdown_grace = std::chrono::seconds(s); },
         "seconds in-flight calls may run after SIGTERM")
      ->envname("VMLE_SHUTDOWN_GRACE_SECONDS")
      ->check(CLI::Range(0, 3600));
}

}  // namespace vmle
