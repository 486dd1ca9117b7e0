/* bench_common.h - the clock, the exit on failure and the options the bench_* programs share. Each
 * bench is built from its one .c file (bench/CMakeLists.txt), so this is header-only: define
 * BENCH_NAME (the program's name, for its error messages) before including it. */
#ifndef MV_BENCH_COMMON_H
#define MV_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_err.h"

#ifndef BENCH_NAME
#error "define BENCH_NAME before including bench_common.h"
/* The options every micro-benchmark takes: --json (one JSON object) and --quick (fewer
 * repetitions). Returns 0, or 2 after printing the usage for anything else. */
static inline int bench_options(int argc, char **argv, int *json, int *quick)
{
    *json = *quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            *json = 1;
        else if (!strcmp(argv[i], "--quick"))
            *quick = 1;
        else {
            fprintf(stderr, "usage: " BENCH_NAME " [--json] [--quick]\n");
            return 2;
        }
    }
    return 0;
}

#endif

/* Seconds on the monotonic clock: only differences mean anything. */
static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* "BENCH_NAME: WHAT failed: ERROR" on stderr, then exit(1): a bench has no partial result. */
static inline _Noreturn void die(const char *what, mv_err rc)
{
    fprintf(stderr, BENCH_NAME ": %s failed: %s\n", what, mv_strerror(rc));
    exit(1);
}

/* The options every micro-benchmark takes: --json (one JSON object) and --quick (fewer
 * repetitions). Returns 0, or 2 after printing the usage for anything else. */
static inline int bench_options(int argc, char **argv, int *json, int *quick)
{
    *json = *quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            *json = 1;
        else if (!strcmp(argv[i], "--quick"))
            *quick = 1;
        else {
            fprintf(stderr, "usage: " BENCH_NAME " [--json] [--quick]\n");
            return 2;
        }
    }
    return 0;
}

#endif
