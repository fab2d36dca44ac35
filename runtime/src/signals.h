// signals.h — private to px_runtime: the signal mask worker threads start with.
#pragma once

#include <pthread.h>
#include <signal.h>

namespace px::runtime {

// Blocks every asynchronous signal on the calling thread while alive, so threads created
// meanwhile start with that mask; restores the old mask afterwards. The synchronous fault
// signals stay unblocked: the kernel delivers them to the faulting thread whatever the mask
// says, and blocking them would only kill the process before a sanitizer can report.
class BlockSignals {
public:
    BlockSignals() {
        sigset_t set;
        sigfillset(&set);
        for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS})
            sigdelset(&set, sig);
        pthread_sigmask(SIG_SETMASK, &set, &old_);
    }
    ~BlockSignals() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
    BlockSignals(const BlockSignals&) = delete;
    BlockSignals& operator=(const BlockSignals&) = delete;

private:
    sigset_t old_{};
};

} // namespace px::runtime
