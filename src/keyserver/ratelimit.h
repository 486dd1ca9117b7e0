/* ratelimit.h - per-client token buckets counted per element, persisted in LMDB. (internal) */
#ifndef MV_KS_RATELIMIT_H
#define MV_KS_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

typedef struct mv_ratelimit mv_ratelimit;

/* Opens (creating) the LMDB environment in dir/ratelimit. rate: tokens per second; burst:
 * bucket capacity (a new client starts full). */
mv_err mv_ratelimit_open(const char *dir, double rate, double burst, mv_ratelimit **out);
/* Syncs to disk and closes; accepts NULL. */
void mv_ratelimit_close(mv_ratelimit *rl);
/* Takes `cost` tokens from client's bucket at unix time now_s (fractional). MV_OK if taken;
 * MV_ERR_RATE_LIMITED otherwise, with *retry_after_s the whole seconds until enough tokens
 * will have accrued (a cost above the burst can never pass: retry_after is then -1).
 * The new bucket state is committed before returning, so it survives a kill -9.
 * MV_ERR_IO on LMDB failure. Thread-safe. */
mv_err mv_ratelimit_take(mv_ratelimit *rl, const uint8_t client[32], double cost, double now_s,
                         long *retry_after_s);
/* Flushes the environment to stable storage (called periodically and at shutdown). */
void mv_ratelimit_sync(mv_ratelimit *rl);

#endif
