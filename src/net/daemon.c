/* daemon.c - signal handling and hardening shared by the daemons: secrets never reach a core
 * file, and only the main thread reacts to SIGTERM/SIGINT, so shutdown is orderly. */
#include "medvault/mv_daemon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#include "medvault/mv_file.h"

static void daemon_sigset(sigset_t *s)
{
    sigemptyset(s);
    sigaddset(s, SIGTERM);
    sigaddset(s, SIGINT);
    sigaddset(s, SIGPIPE);
}

void mv_daemon_block_signals(void)
{
    sigset_t s;
    daemon_sigset(&s);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void mv_daemon_wait(double period_s, void (*tick)(void *ctx), void *ctx)
{
    sigset_t s;
    daemon_sigset(&s);
    if (period_s < 0.05)
        period_s = 0.05;
    double last = mono();
    for (;;) {
        struct timespec to = {0, 200 * 1000000L};
        int sig = sigtimedwait(&s, NULL, &to);
        if (sig == SIGTERM || sig == SIGINT)
            return;
        if (tick && mono() - last >= period_s) {
            tick(ctx);
            last = mono();
        }
    }
}

int mv_daemon_write_port(const char *path, uint16_t port)
{
    if (!path)
        return 0;
    char pb[16];
    int n = snprintf(pb, sizeof pb, "%u\n", (unsigned)port);
    return mv_file_write_atomic(path, pb, (size_t)n, 0644) == MV_OK ? 0 : -1;
}

void mv_daemon_harden(void)
{
    struct rlimit rl = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &rl);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
