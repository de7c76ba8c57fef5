#pragma once
namespace sp {
// Start (true) or stop (false) catching SIGINT/SIGTERM; starting clears any pending signal.
void watch_signals(bool on);
// The signal caught since watching started (SIGINT = 2, SIGTERM = 15), or 0.
int pending_signal();
}  // namespace sp
