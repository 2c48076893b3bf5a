// vmle-memory: the system of record (RocksDB) and the agent's long-term memory.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/config/server_flags.h"
#include "common/logging/logging.h"
#include "common/server/run.h"
#include "common/server/signals.h"
#include "services/memory/memory_service.h"
#include "services/memory/store/memory_store.h"

int main(int argc, char** argv) {
  vmle::BlockTerminationSignals();
  CLI::App app{"vmle-memory: VirtualMLE's system of record (RocksDB)"};
  vmle::ServerOptions server;
  server.service_name = "memory";
  server.listen = "0.0.0.0:50052";
  server.metrics_listen = "0.0.0.0:9092";
  std::string log_level = "info";
  vmle::memory::MemoryStoreOptions store_options;
  store_options.path = "vmle-memory-db";
  store_options.backup_root = "vmle-memory-backups";
  vmle::AddServerFlags(app, server, log_level);
  vmle::AddFlag(app, "--db", store_options.path, "RocksDB directory (created if missing)");
  vmle::AddFlag(app, "--backup_root", store_options.backup_root,
                "Backup RPCs write only below this directory, created on first use (empty: backups off)");
  app.add_option("--sync_writes", store_options.sync_writes,
                 "fsync the write-ahead log before acknowledging a write")
      ->envname("VMLE_SYNC_WRITES")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  return vmle::RunService(
      server, log_level,
      [&](vmle::MetricsServer& metrics)
          -> absl::StatusOr<std::vector<std::unique_ptr<grpc::Service>>> {
        store_options.metrics = &metrics.registry();
        auto store = vmle::memory::MemoryStore::Open(store_options);
        if (!store.ok()) return store.status();
        auto stats = (*store)->GetStats({});
        if (!stats.ok()) return stats.status();
        vmle::log::Info("database open",
                        {{"db", store_options.path},
                         {"sync_writes", store_options.sync_writes ? "true" : "false"},
                         {"studies", absl::StrCat(stats->records().at("studies"))},
                         {"trials", absl::StrCat(stats->records().at("trials"))},
                         {"cognition", absl::StrCat(stats->records().at("cognition"))},
                         {"bytes", absl::StrCat(stats->bytes_on_disk())}});
        std::vector<std::unique_ptr<grpc::Service>> services;
        services.push_back(std::make_unique<vmle::memory::MemoryServiceImpl>(std::move(*store)));
        return services;
      });
}
