/* clock.c - every elapsed time and deadline in medvault is read from one monotonic clock, so
 * a wall-clock step never shortens a wait or stretches a duration. */
#include "medvault/mv_clock.h"

#include <stdio.h>

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

uint64_t mv_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int mv_iso8601(char *out, size_t cap, uint64_t unix_ms, int with_ms)
{
    struct tm tm;
    time_t t = (time_t)(unix_ms / 1000u);
    if (!out || cap < 25 || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999)
        return -1;
    char date[24];
    if (strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) != 19)
        return -1;
    if (with_ms)
        snprintf(out, cap, "%s.%03uZ", date, (unsigned)(unix_ms % 1000u));
    else
        snprintf(out, cap, "%sZ", date);
    return 0;
}
