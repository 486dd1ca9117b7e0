/* daemon.c - signal handling and hardening shared by the daemons: secrets never reach a core
 * file, only the main thread reacts to SIGTERM/SIGINT, so shutdown is orderly, and the metrics
 * token is private to the daemon's user. */
#include "medvault/mv_daemon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_mem.h"

/* Open descriptors a daemon asks for: the HTTP server's default connection limit (8192)
 * several times over, far below any kernel's nr_open. */
#define NOFILE_WANTED 65536
#define TOKEN_MIN 16
#define TOKEN_MAX 256

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

void mv_daemon_wait(double period_s, void (*tick)(void *ctx), void *ctx)
{
    sigset_t s;
    daemon_sigset(&s);
    if (period_s < 0.05)
        period_s = 0.05;
    double last = mv_mono_seconds();
    for (;;) {
        struct timespec to = {0, 200 * 1000000L};
        int sig = sigtimedwait(&s, NULL, &to);
        if (sig == SIGTERM || sig == SIGINT)
            return;
        if (tick && mv_mono_seconds() - last >= period_s) {
            tick(ctx);
            last = mv_mono_seconds();
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
    /* The common default soft limit of 1024 is what a thousand slow connections exhaust;
     * raising the soft limit up to the hard one needs no privilege. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = NOFILE_WANTED;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
            want = rl.rlim_max;
        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
            return;
        rl.rlim_cur = want;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int token_ok(const char *t, size_t n)
{
    return n >= TOKEN_MIN && n <= TOKEN_MAX &&
           strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=") == n;
}

mv_err mv_daemon_metrics_token(const char *dir, char *out, size_t cap)
{
    char path[4096];
    uint8_t fresh[32];
    char hex[MV_DAEMON_METRICS_TOKEN_CHARS + 1];
    struct stat st;
    mv_buf b;
    mv_err rc;
    if (!dir || !out || cap < TOKEN_MAX + 1)
        return MV_ERR_INVAL;
    out[0] = 0;
    mv_buf_init(&b, TOKEN_MAX + 2);
    if ((rc = mv_path_join(path, sizeof path, dir, MV_DAEMON_METRICS_TOKEN_FILE)) != MV_OK)
        goto out;
    if (!mv_file_exists(path)) {
        if ((rc = mv_random_bytes(fresh, sizeof fresh)) != MV_OK ||
            (rc = mv_hex_encode(hex, sizeof hex, fresh, sizeof fresh)) != MV_OK ||
            (rc = mv_file_write_atomic(path, hex, MV_DAEMON_METRICS_TOKEN_CHARS, 0600)) != MV_OK)
            goto out;
    }
    if (stat(path, &st) != 0) {
        rc = MV_ERR_IO;
        goto out;
    }
    if (st.st_mode & 077) { /* a bearer secret: as private as the daemon's keys */
        rc = MV_ERR_AUTH;
        goto out;
    }
    if ((rc = mv_file_read(path, TOKEN_MAX + 2, &b)) != MV_OK) {
        if (rc == MV_ERR_TOO_LARGE)
            rc = MV_ERR_PARSE;
        goto out;
    }
    size_t n = b.len;
    if (n && b.ptr[n - 1] == '\n')
        n--;
    if (n && b.ptr[n - 1] == '\r')
        n--;
    if (n == 0 || memchr(b.ptr, 0, n) || !token_ok((const char *)b.ptr, n)) {
        rc = MV_ERR_PARSE;
        goto out;
    }
    memcpy(out, b.ptr, n);
    out[n] = 0;
    rc = MV_OK;
out:
    mv_wipe(fresh, sizeof fresh);
    mv_wipe(hex, sizeof hex);
    mv_buf_clear(&b);
    return rc;
}
