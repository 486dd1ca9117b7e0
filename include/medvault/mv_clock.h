/* mv_clock.h - the one monotonic clock of medvault.
 *
 * Durations, rate limits, retry schedules and waits are measured on CLOCK_MONOTONIC, so a
 * step of the wall clock (NTP, an administrator) neither stalls nor floods them. Wall-clock
 * time (credential windows, log stamps) is time(2), never this. */
#ifndef MV_CLOCK_H
#define MV_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "medvault/mv_api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds (with nanosecond resolution) on the monotonic clock since an unspecified start;
 * only differences mean anything. */
MV_API double mv_mono_seconds(void);

/* Milliseconds on the monotonic clock since an unspecified start; only differences mean
 * anything. */
MV_API uint64_t mv_mono_ms(void);

/* Sets *now to the monotonic clock's current reading. */
MV_API void mv_mono_now(struct timespec *now);

/* Sets *at to the monotonic time ms milliseconds from now, normalised
 * (0 <= tv_nsec < 1e9). For pthread_cond_timedwait on a condition variable whose clock is
 * CLOCK_MONOTONIC (pthread_condattr_setclock), and for comparing against a later reading. */
MV_API void mv_mono_deadline(struct timespec *at, uint64_t ms);

/* Wall-clock time, for what must be stamped on data rather than measured. */

/* The current time in milliseconds since the Unix epoch (CLOCK_REALTIME). */
MV_API uint64_t mv_wall_ms(void);

/* Writes unix_ms as a UTC ISO 8601 instant, "2026-12-07T14:32:11.123Z" (with_ms) or
 * "2026-12-07T14:32:11Z", NUL-terminated, into out[0..cap) (cap >= 25). Returns 0, or -1
 * when cap is too small or the year is outside 0000..9999. */
MV_API int mv_iso8601(char *out, size_t cap, uint64_t unix_ms, int with_ms);

#ifdef __cplusplus
}
#endif
#endif
