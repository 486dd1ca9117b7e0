/* gen_common.h - shared by gen-emr and gen-imaging (synthetic test data only; never key
 * material): a deterministic generator (xoshiro256** seeded through splitmix64, so a
 * (seed, domain, index) triple names one independent stream and any item can be regenerated on
 * its own), and output-directory helpers. */
#ifndef MV_GEN_COMMON_H
#define MV_GEN_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

typedef struct gen_rng {
    uint64_t s[4];
} gen_rng;

/* The splitmix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mixer. */
static inline uint64_t gen_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t gen_splitmix64(uint64_t *x)
{
    *x += 0x9e3779b97f4a7c15ULL;
    return gen_mix64(*x);
}

/* Seeds r with the stream named by (seed, domain, index). */
static inline void gen_rng_init(gen_rng *r, uint64_t seed, uint64_t domain, uint64_t index)
{
    uint64_t x = gen_mix64(seed + 0x9e3779b97f4a7c15ULL);
    x = gen_mix64(x ^ gen_mix64(domain + 0x632be59bd9b4e019ULL));
    x = gen_mix64(x ^ gen_mix64(index + 0x85157af5ULL));
    for (int i = 0; i < 4; i++)
        r->s[i] = gen_splitmix64(&x);
}

static inline uint64_t gen_rotl(uint64_t v, int k)
{
    return (v << k) | (v >> (64 - k));
}

/* xoshiro256** 1.0 (Blackman, Vigna). */
static inline uint64_t gen_next(gen_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = gen_rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = gen_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n) without modulo bias; n > 0. */
static inline uint64_t gen_below(gen_rng *r, uint64_t n)
{
    uint64_t threshold = (0 - n) % n, x;
    do
        x = gen_next(r);
    while (x < threshold);
    return x % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t gen_range(gen_rng *r, uint64_t lo, uint64_t hi)
{
    return lo + gen_below(r, hi - lo + 1);
}

/* Uniform in [0, 1) with 53 bits. */
static inline double gen_unit(gen_rng *r)
{
    return (double)(gen_next(r) >> 11) * 0x1.0p-53;
}

/* 1 with probability pct/100. */
static inline int gen_chance(gen_rng *r, unsigned pct)
{
    return gen_below(r, 100) < pct;
}

/* Creates directory path (0755) unless it already is one; 0, or -1 after an error message. */
static inline int gen_mkdir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        errno = ENOTDIR;
    }
    cli_err("cannot create the directory %s: %s", path, strerror(errno));
    return -1;
}

/* 1 if path is absent (it is created) or an empty directory; 0 after an error message.
 * Generators never write into a directory holding other data. */
static inline int gen_prepare_outdir(const char *path)
{
    if (gen_mkdir(path) != 0)
        return 0;
    DIR *dir = opendir(path);
    if (!dir) {
        cli_err("cannot open %s: %s", path, strerror(errno));
        return 0;
    }
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(dir)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = 0;
    closedir(dir);
    if (!empty)
        cli_err("%s is not empty; generate into a new or empty directory", path);
    return empty;
}

/* Writes all of p[0..n) to fd; 0, or -1 with errno set. */
static inline int gen_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = EIO;
            return -1;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

#endif
