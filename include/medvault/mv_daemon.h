/* mv_daemon.h - what every medvault daemon does around its HTTP server: signal handling,
 * the port file, core-dump hardening.
 *
 * A daemon calls mv_daemon_block_signals() before it starts any thread (so every thread
 * inherits the mask and only the main thread takes SIGTERM/SIGINT), starts its server,
 * then mv_daemon_wait() until it is told to stop, and shuts down cleanly. */
#ifndef MV_DAEMON_H
#define MV_DAEMON_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Blocks SIGTERM, SIGINT and SIGPIPE in the calling thread (and the threads it starts). */
void mv_daemon_block_signals(void);

/* Waits until SIGTERM or SIGINT arrives (they must be blocked, see above). If tick is not
 * NULL it is called about every period_s seconds (>= 0.05) from this thread. */
void mv_daemon_wait(double period_s, void (*tick)(void *ctx), void *ctx);

/* Writes "PORT\n" atomically to path (0644) if path is not NULL. Returns 0 on success. */
int mv_daemon_write_port(const char *path, uint16_t port);

/* Disables core dumps and ptrace attachment by other users' processes: a daemon holding
 * secret keys calls this first. */
void mv_daemon_harden(void);

#ifdef __cplusplus
}
#endif
#endif
