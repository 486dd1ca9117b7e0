/* bench_guard_fp.c - false positives and detection delay of the storage server's access profile
 * (docs/guard.md) on a simulated hospital, with the guard's own decision code and injected time.
 *
 * Legitimate users (weeks of simulated time): ward doctors, emergency doctors on rotating
 * shifts, outpatient doctors and patients, each with a personal read rate drawn from a
 * log-normal distribution, Poisson reads per hour during their working hours, a morning
 * ward-round peak, occasional busy days (x2.5) and rare "catch-up" hours (x6: a doctor going
 * through a week of results). Every read goes through guard_decide; a step-up demand on a
 * legitimate user is a false positive (our client then asks the user to step up; decoys go
 * only to callers who read on without it, which our client never does). A thief with a
 * stolen credential is then replayed at several exfiltration rates to measure how many
 * records they get before the demand (or in a week, if the profile never fires).
 *
 * usage: bench_guard_fp [--json] [--weeks N] [--floor N] [--factor F] [--seed N] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_internal.h"

/* xorshift64*: a reproducible simulation stream (not for secrets). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}
static double unif(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }
static double normal(void)
{
    double u = unif(), v = unif();
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}
static uint64_t poisson(double lambda)
{
    if (lambda <= 0)
        return 0;
    if (lambda > 60) { /* normal approximation */
        double x = lambda + sqrt(lambda) * normal();
        return x < 0 ? 0 : (uint64_t)(x + 0.5);
    }
    double l = exp(-lambda), p = 1;
    uint64_t k = 0;
    do {
        k++;
        p *= unif();
    } while (p > l);
    return k - 1;
}

enum kind { WARD, EMERGENCY, OUTPATIENT, PATIENT, N_KINDS };
static const char *const kind_name[N_KINDS] = {"ward doctor", "emergency doctor", "outpatient doctor", "patient"};
/* median reads per working hour, log-normal sigma, first and last working hour, days a week */
static const struct {
    double median, sigma;
    int start, end, days;
} kinds[N_KINDS] = {
    {18, 0.5, 8, 18, 5},
    {30, 0.5, 0, 24, 4}, /* 12-hour shifts, day or night, see below */
    {10, 0.5, 9, 17, 5},
    {0.05, 0.8, 8, 22, 7},
};

typedef struct user {
    enum kind k;
    double rate;
    int night;
    guard_profile p;
    uint64_t reads, demands;
} user;

int main(int argc, char **argv)
{
    int json = 0;
    uint64_t weeks = 8;
    guard_params gp = {.floor = 300, .factor = 5, .max_denials = 10, .skew = 300};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--weeks") && i + 1 < argc)
            weeks = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--floor") && i + 1 < argc)
            gp.floor = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--factor") && i + 1 < argc)
            gp.factor = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            rng_state = strtoull(argv[++i], NULL, 10) | 1;
        else {
            fprintf(stderr, "usage: bench_guard_fp [--json] [--weeks N] [--floor N] [--factor F] [--seed N]\n");
            return 2;
        }
    }
    if (weeks == 0 || weeks > 520 || gp.floor == 0 || !(gp.factor >= 1)) {
        fprintf(stderr, "bench_guard_fp: --weeks 1..520, --floor >= 1, --factor >= 1\n");
        return 2;
    }
    static const int counts[N_KINDS] = {40, 16, 24, 400};
    size_t n = 0;
    for (int k = 0; k < N_KINDS; k++)
        n += (size_t)counts[k];
    user *u = calloc(n, sizeof *u);
    if (!u)
        return 1;
    size_t j = 0;
    for (int k = 0; k < N_KINDS; k++)
        for (int c = 0; c < counts[k]; c++, j++) {
            uint8_t subject[32] = {0};
            memcpy(subject, &j, sizeof j);
            u[j].k = (enum kind)k;
            u[j].rate = kinds[k].median * exp(kinds[k].sigma * normal());
            u[j].night = k == EMERGENCY && c % 2;
            guard_profile_init(&u[j].p, subject);
        }
    const uint64_t t0 = 1790000000 - 1790000000 % 604800; /* a Thursday 00:00 UTC; weeks from there */
    uint64_t total_reads = 0, total_demands = 0, busy_hours = 0, catchup_hours = 0;
    for (uint64_t day = 0; day < 7 * weeks; day++) {
        for (size_t i = 0; i < n; i++) {
            const int dow = (int)(day % 7);
            /* Patients any day; staff on a weekly pattern staggered across the team. */
            int works = u[i].k == PATIENT || ((dow + (int)(i % 7)) % 7) < kinds[u[i].k].days;
            if (!works)
                continue;
            double day_mult = unif() < 0.1 ? 2.5 : 1.0;
            int start = kinds[u[i].k].start, end = kinds[u[i].k].end;
            if (u[i].k == EMERGENCY) {
                start = u[i].night ? 19 : 7;
                end = start + 12;
            }
            for (int h = start; h < end; h++) {
                double m = u[i].rate * day_mult;
                if (h == start && u[i].k == WARD)
                    m *= 3; /* the morning ward round */
                if (u[i].k != PATIENT && unif() < 0.01) {
                    m *= 6; /* catching up on a week of results */
                    catchup_hours++;
                }
                if (day_mult > 1)
                    busy_hours++;
                uint64_t reads = poisson(m);
                for (uint64_t r = 0; r < reads; r++) {
                    uint64_t now = t0 + day * 86400 + (uint64_t)h * 3600 + (uint64_t)(unif() * 3600);
                    const char *why = "";
                    guard_action a = guard_decide(&u[i].p, now, 1, 1, 0, &gp, &why);
                    u[i].reads++;
                    if (a == GUARD_DEMAND) {
                        /* The user steps up (a device signature): the grant resets the window. */
                        u[i].demands++;
                        (void)guard_decide(&u[i].p, now, 1, 1, 1, &gp, &why);
                    } else if (a != GUARD_SERVE) {
                        fprintf(stderr, "unexpected decoy for a legitimate user\n");
                        return 1;
                    }
                }
            }
        }
    }
    uint64_t per_kind_reads[N_KINDS] = {0}, per_kind_demands[N_KINDS] = {0}, per_kind_users[N_KINDS] = {0};
    for (size_t i = 0; i < n; i++) {
        per_kind_reads[u[i].k] += u[i].reads;
        per_kind_demands[u[i].k] += u[i].demands;
        per_kind_users[u[i].k]++;
        total_reads += u[i].reads;
        total_demands += u[i].demands;
    }
    /* Detection: a thief with a ward doctor's credential (that doctor's learnt baseline) reads
     * at a steady rate; how many records before the first step-up demand? */
    static const double rates[] = {100, 300, 1000, 5000};
    uint64_t got[sizeof rates / sizeof *rates];
    int caught[sizeof rates / sizeof *rates];
    uint64_t limit = 0;
    for (size_t r = 0; r < sizeof rates / sizeof *rates; r++) {
        guard_profile p = u[0].p;
        uint64_t start = t0 + 7 * weeks * 86400 + 3 * 3600, k = 0; /* 03:00, the doctor is asleep */
        guard_profile_advance(&p, start);
        guard_profile_reset_window(&p);
        limit = guard_profile_limit(&p, &gp);
        for (;; k++) {
            const char *why = "";
            uint64_t now = start + (uint64_t)((double)k * 3600.0 / rates[r]);
            if (now >= start + 7 * 86400 || guard_decide(&p, now, 1, 1, 0, &gp, &why) != GUARD_SERVE)
                break;
        }
        got[r] = k;
        caught[r] = (double)k * 3600.0 / rates[r] < 7 * 86400.0;
    }
    if (json) {
        printf("{\"weeks\":%llu,\"floor\":%llu,\"factor\":%.2f,\"users\":%zu,\"reads\":%llu,\"demands\":%llu,"
               "\"demands_per_1000_reads\":%.4f,\"kinds\":[",
               (unsigned long long)weeks, (unsigned long long)gp.floor, gp.factor, n, (unsigned long long)total_reads,
               (unsigned long long)total_demands, total_reads ? 1000.0 * (double)total_demands / (double)total_reads : 0);
        for (int k = 0; k < N_KINDS; k++)
            printf("%s{\"kind\":\"%s\",\"users\":%llu,\"reads\":%llu,\"demands\":%llu}", k ? "," : "", kind_name[k],
                   (unsigned long long)per_kind_users[k], (unsigned long long)per_kind_reads[k],
                   (unsigned long long)per_kind_demands[k]);
        printf("],\"thief_limit\":%llu,\"thief\":[", (unsigned long long)limit);
        for (size_t r = 0; r < sizeof rates / sizeof *rates; r++)
            printf("%s{\"reads_per_hour\":%.0f,\"records\":%llu,\"demanded\":%s}", r ? "," : "", rates[r],
                   (unsigned long long)got[r], caught[r] ? "true" : "false");
        printf("],\"busy_hours\":%llu,\"catchup_hours\":%llu}\n", (unsigned long long)busy_hours,
               (unsigned long long)catchup_hours);
    } else {
        printf("%llu weeks, %zu users, floor %llu, factor %.2f: %llu reads, %llu step-up demands (%.4f per 1000 reads)\n",
               (unsigned long long)weeks, n, (unsigned long long)gp.floor, gp.factor, (unsigned long long)total_reads,
               (unsigned long long)total_demands,
               total_reads ? 1000.0 * (double)total_demands / (double)total_reads : 0);
        for (int k = 0; k < N_KINDS; k++)
            printf("  %-18s %4llu users %9llu reads %5llu demands\n", kind_name[k],
                   (unsigned long long)per_kind_users[k], (unsigned long long)per_kind_reads[k],
                   (unsigned long long)per_kind_demands[k]);
        for (size_t r = 0; r < sizeof rates / sizeof *rates; r++)
            printf("  thief at %5.0f reads/hour with a ward doctor's credential: %llu records %s\n", rates[r],
                   (unsigned long long)got[r], caught[r] ? "before the step-up demand" : "in a week, never demanded");
    }
    free(u);
    return 0;
}
