/* clock.c - every elapsed time and deadline in medvault is read from one monotonic clock, so
 * a wall-clock step never shortens a wait or stretches a duration. */
#include "medvault/mv_clock.h"

/* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer, so the result is not checked. */
static struct timespec mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts;
}

void mv_mono_now(struct timespec *now)
{
    *now = mono();
}

double mv_mono_seconds(void)
{
    struct timespec ts = mono();
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t mv_mono_ms(void)
{
    struct timespec ts = mono();
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void mv_mono_deadline(struct timespec *at, uint64_t ms)
{
    struct timespec ts = mono();
    long nsec = ts.tv_nsec + (long)(ms % 1000u) * 1000000L;
    ts.tv_sec += (time_t)(ms / 1000u) + nsec / 1000000000L;
    ts.tv_nsec = nsec % 1000000000L;
    *at = ts;
}
