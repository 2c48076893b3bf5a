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

// A flag with its VMLE_ environment override, e.g. AddFlag(app, "--db", db, "...").
CLI::Option* AddFlag(CLI::App& app, const std::string& name, std::string& value,
                     const std::string& description);

}  // namespace vmle
