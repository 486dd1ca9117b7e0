/* mv_daemon.h - what every medvault daemon does around its HTTP server: signal handling,
 * the port file, core-dump hardening, descriptor limits, the metrics token.
 *
 * A daemon calls mv_daemon_block_signals() before it starts any thread (so every thread
 * inherits the mask and only the main thread takes SIGTERM/SIGINT), starts its server,
 * then mv_daemon_wait() until it is told to stop, and shuts down cleanly. */
#ifndef MV_DAEMON_H
#define MV_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Blocks SIGTERM, SIGINT and SIGPIPE in the calling thread (and the threads it starts). */
MV_API void mv_daemon_block_signals(void);

/* Waits until SIGTERM or SIGINT arrives (they must be blocked, see above). If tick is not
 * NULL it is called about every period_s seconds (>= 0.05) from this thread. */
MV_API void mv_daemon_wait(double period_s, void (*tick)(void *ctx), void *ctx);

/* Writes "PORT\n" atomically to path (0644) if path is not NULL. Returns 0 on success. */
MV_API int mv_daemon_write_port(const char *path, uint16_t port);

/* Disables core dumps and ptrace attachment by other users' processes, and raises the soft
 * limit on open descriptors to min(hard limit, 65536) so that the HTTP server can hold
 * thousands of (possibly hostile, slow) connections: a daemon calls this first. */
MV_API void mv_daemon_harden(void);

/* File name, under a daemon's directory, of the token that unlocks its private metrics. */
#define MV_DAEMON_METRICS_TOKEN_FILE "metrics.token"
/* Characters of a token created here (hex of 32 random bytes). */
#define MV_DAEMON_METRICS_TOKEN_CHARS 64

/* Loads DIR/metrics.token into out[0..cap) (NUL-terminated), creating it on first start
 * with hex of 32 fresh random bytes (mode 0600). An operator may write a token of their own
 * (16 to 256 characters of [A-Za-z0-9._~+/=-]; a trailing newline is ignored). The token is
 * the bearer credential of GET /metrics (mv_http.h): never log it.
 * Errors: MV_ERR_INVAL (NULL, cap < 257), MV_ERR_AUTH (the file is readable by group or
 * others), MV_ERR_PARSE (not a valid token), MV_ERR_IO, MV_ERR_NOMEM, MV_ERR_CRYPTO. */
MV_API mv_err mv_daemon_metrics_token(const char *dir, char *out, size_t cap) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
