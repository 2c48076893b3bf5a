// Termination signals for services: SIGTERM (Kubernetes) and SIGINT (Ctrl-C).
//
// Call BlockTerminationSignals() first thing in main, before any thread starts, so
// that every thread inherits the mask and the signals are only ever received by
// WaitForTerminationSignal() — no async signal handler runs.
#pragma once

namespace vmle {

void BlockTerminationSignals();

// Blocks until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForTerminationSignal();

}  // namespace vmle
