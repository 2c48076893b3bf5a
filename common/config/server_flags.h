// The command-line vocabulary every service shares. Each flag has an environment
// override named VMLE_<FLAG> (e.g. --listen / VMLE_LISTEN): a flag given on the
// command line wins over the environment, which wins over the default.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "common/server/server.h"

namespace vmle {

// Flags every service shares, parsed into `server` and `log_level`:
// --listen, --metrics, --log_level, --ready_file, --shutdown_grace_seconds,
// --tls_cert, --tls_key, --tls_client_ca.
void AddServerFlags(CLI::App& app, ServerOptions& server, std::string& log_level);

// "--tls_cert" -> "VMLE_TLS_CERT".
std::string EnvName(const std::string& flag);

// A flag of any type CLI11 parses, with its VMLE_ environment override, e.g.
// AddFlag(app, "--db", db, "...").
template <typename T>
CLI::Option* AddFlag(CLI::App& app, const std::string& name, T& value, const std::string& description) {
  return app.add_option(name, value, description)->envname(EnvName(name))->capture_default_str();
}

}  // namespace vmle
