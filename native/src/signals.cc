// Ctrl-C during a synchronous training loop. Node runs JS signal listeners on the event loop, which a
// synchronous loop never yields to, so the engine watches SIGINT/SIGTERM itself: the first signal only sets a
// flag the loop polls after each step (it then saves a checkpoint and stops); a second one restores the default
// action and re-raises it, ending the process at once (every file the trainer writes is atomic, so nothing is
// corrupted). unwatch restores whatever handlers were installed before.
#include "signals.h"

#include <csignal>
#include <cstring>

namespace sp {
namespace {

volatile std::sig_atomic_t g_pending = 0;
bool g_watching = false;
struct sigaction g_old_int, g_old_term;

void on_signal(int sig) {
  if (g_pending != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_pending = sig;
}

}  // namespace

void watch_signals(bool on) {
  if (on == g_watching) return;
  if (on) {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    g_pending = 0;
    sigaction(SIGINT, &sa, &g_old_int);
    sigaction(SIGTERM, &sa, &g_old_term);
  } else {
    sigaction(SIGINT, &g_old_int, nullptr);
    sigaction(SIGTERM, &g_old_term, nullptr);
  }
  g_watching = on;
}

int pending_signal() { return static_cast<int>(g_pending); }

}  // namespace sp
