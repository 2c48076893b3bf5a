#include "common/server/run.h"

#include <csignal>
#include <iostream>
#include <thread>

#include "absl/synchronization/notification.h"

#include "common/logging/logging.h"
#include "common/server/signals.h"

#ifndef VMLE_VERSION
#define VMLE_VERSION "dev"
#endif

namespace vmle {
namespace {

int Fail(const absl::Status& status) {
  log::Error("startup failed", {{"error", status.ToString()}});
  return 1;
}

}  // namespace

int RunService(const ServerOptions& options, const std::string& log_level,
               const ServiceFactory& make_services, const ReadinessProbe& ready) {
  if (absl::Status s = log::InitLogging(options.service_name, log_level); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 1;
  }
  auto metrics = MetricsServer::Start(options.metrics_listen, options.service_name, VMLE_VERSION);
  if (!metrics.ok()) return Fail(metrics.status());
  auto services = make_services(**metrics);
  if (!services.ok()) return Fail(services.status());
  std::vector<grpc::Service*> raw;
  for (auto& s : *services) raw.push_back(s.get());
  auto host = ServiceHost::Start(options, raw, metrics->get());
  if (!host.ok()) return Fail(host.status());
  absl::Notification stopping;
  std::thread prober;
  if (ready) {
    prober = std::thread([&] {
      bool serving = true;
      while (!stopping.WaitForNotificationWithTimeout(absl::Seconds(1))) {
        const bool now = ready();
        if (now == serving) continue;
        serving = now;
        if (serving) {
          log::Info("dependencies answer again: SERVING");
        } else {
          log::Warn("a dependency does not answer: NOT_SERVING");
        }
        (*host)->SetServing(serving);
      }
    });
  }
  const int signal = WaitForTerminationSignal();
  log::Info("signal received", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
  stopping.Notify();
  if (prober.joinable()) prober.join();
  (*host)->Shutdown();
  return 0;
}

}  // namespace vmle
