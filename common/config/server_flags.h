// The command-line vocabulary every service shares. Each flag has an environment
// override named VMLE_<FLAG> (e.g. --listen / VMLE_LISTEN): a flag given on the
// command line wins over the environment, which wins over the default.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "common/auth/client_channel.h"
#include "common/server/server.h"

namespace vmle {

// Flags every service shares, parsed into `server` and `log_level`:
// --listen, --metrics, --log_level, --ready_file, --shutdown_grace_seconds,
// --tls_cert, --tls_key, --tls_client_ca, --auth_tokens_file,
// --max_receive_message_bytes.
void AddServerFlags(CLI::App& app, ServerOptions& server, std::string& log_level);

// Flags of an outgoing channel, parsed into `client`: --<prefix>auth_token_file,
// --<prefix>tls_ca, --<prefix>tls_cert, --<prefix>tls_key, --<prefix>tls_server_name
// (prefix e.g. "memory_" in the agent, "agent_" in a worker, "" in the CLI);
// `peer` names the server in the help text.
void AddClientFlags(CLI::App& app, auth::ClientSecurityOptions& client, const std::string& prefix,
                    const std::string& peer);

// "--tls_cert" -> "VMLE_TLS_CERT".
std::string EnvName(const std::string& flag);

// A flag of any type CLI11 parses, with its VMLE_ environment override, e.g.
// AddFlag(app, "--db", db, "...").
template <typename T>
CLI::Option* AddFlag(CLI::App& app, const std::string& name, T& value, const std::string& description) {
  return app.add_option(name, value, description)->envname(EnvName(name))->capture_default_str();
}

}  // namespace vmle
