/* replay.c - runs a libFuzzer-style target over a seed corpus and deterministic mutations of
 * it, so every parser's fuzz target is exercised by the normal test run (under ASan+UBSan in
 * the sanitizer build, which aborts on a bug).
 *
 * Usage: fuzz_<name>_replay CORPUS_DIR
 *   Feeds each regular file of CORPUS_DIR (in name order) to LLVMFuzzerTestOneInput, then
 *   MV_FUZZ_MUTATIONS (default 1000) mutations of each from a fixed-seed xorshift PRNG: bit
 *   flips, interesting bytes, inserts, deletes, truncations, chunk duplication and splices
 *   with other corpus files. Prints "replayed N inputs" and exits 0; exits 1 if the corpus
 *   is missing or empty (a fuzz test must not pass by running nothing). Each input is passed
 *   in a heap buffer of exactly its size so ASan catches any read past the end.
 *
 * This file is linked only into the replay build. For real coverage-guided fuzzing with
 * clang's libFuzzer, build the library with coverage instrumentation and link the target
 * without replay.c (libFuzzer provides main):
 *
 *   CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMV_SANITIZE=ON \
 *       -DMV_TESTS=OFF -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
 *   ninja -C build-fuzz medvault_static
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/fuzz_json.c \
 *       build-fuzz/libmedvault.a $(pkg-config --libs libsodium libcrypto libcurl libmicrohttpd libzstd) \
 *       -llmdb -lpthread -lm -o fuzz_json
 *   mkdir -p /tmp/json-corpus && ./fuzz_json -max_len=4096 /tmp/json-corpus tests/fuzz/corpus/json
 *
 * (the same with fuzz_config.c / corpus/config). New crashers belong in the seed corpus. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FILE ((size_t)1 << 20) /* seed files are small; larger ones are a mistake */
#define MAX_MUTANT ((size_t)1 << 16)
#define MAX_FILES 4096

typedef struct seed {
    uint8_t *data;
    size_t len;
} seed;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* xorshift64 (Marsaglia 2003): fixed seed, so every run replays the same inputs. */
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static size_t rnd_below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_file(const char *path, seed *s)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t *buf = malloc(MAX_FILE + 1);
    if (!buf) {
        fclose(f);
        return -1;
    }
    size_t n = fread(buf, 1, MAX_FILE + 1, f);
    int bad = ferror(f) || n > MAX_FILE;
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    s->data = buf;
    s->len = n;
    return 0;
}

/* Runs the target on a private, exactly-sized copy of data[0..n). */
static void run(const uint8_t *data, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) {
        fprintf(stderr, "replay: out of memory\n");
        exit(1);
    }
    if (n)
        memcpy(copy, data, n);
    (void)LLVMFuzzerTestOneInput(copy, n);
    free(copy);
}

/* Bytes that matter to text parsers: delimiters, escapes, quotes and UTF-8 edge cases. */
static const uint8_t interesting[] = {0x00, 0x01, 0x09, 0x0a, 0x0d, 0x1f, ' ', '"', '#', ',', '-', '.', '0',
                                      '1', '9', ':', '=', 'E', '[', '\\', ']', 'e', 'u', '{', '}', 0x7f,
                                      0x80, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};

static size_t mutate(uint8_t *buf, size_t len, const seed *seeds, size_t n_seeds)
{
    size_t ops = 1 + rnd_below(4);
    for (size_t k = 0; k < ops; k++) {
        switch (rnd_below(8)) {
        case 0: /* bit flip */
            if (len)
                buf[rnd_below(len)] ^= (uint8_t)(1u << rnd_below(8));
            break;
        case 1: /* interesting byte */
            if (len)
                buf[rnd_below(len)] = interesting[rnd_below(sizeof interesting)];
            break;
        case 2: /* insert a byte */
            if (len < MAX_MUTANT) {
                size_t at = rnd_below(len + 1);
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = rnd_below(2) ? interesting[rnd_below(sizeof interesting)] : (uint8_t)rnd();
                len++;
            }
            break;
        case 3: /* delete a range */
            if (len) {
                size_t at = rnd_below(len), n = 1 + rnd_below(len - at < 8 ? len - at : 8);
                memmove(buf + at, buf + at + n, len - at - n);
                len -= n;
            }
            break;
        case 4: /* truncate */
            len = rnd_below(len + 1);
            break;
        case 5: /* duplicate a chunk to a random place */
            if (len) {
                static uint8_t tmp[MAX_MUTANT];
                size_t at = rnd_below(len), n = 1 + rnd_below(len - at);
                if (n > MAX_MUTANT - len)
                    n = MAX_MUTANT - len;
                size_t to = rnd_below(len + 1);
                memcpy(tmp, buf + at, n);
                memmove(buf + to + n, buf + to, len - to);
                memcpy(buf + to, tmp, n);
                len += n;
            }
            break;
        case 6: /* splice: replace the tail with a chunk of another seed */
            if (n_seeds) {
                const seed *o = &seeds[rnd_below(n_seeds)];
                size_t cut = rnd_below(len + 1);
                size_t from = rnd_below(o->len + 1);
                size_t n = o->len - from;
                if (n > MAX_MUTANT - cut)
                    n = MAX_MUTANT - cut;
                memcpy(buf + cut, o->data + from, n);
                len = cut + n;
            }
            break;
        default: /* repeat one byte several times (deep nesting, long runs) */
            if (len && len < MAX_MUTANT) {
                size_t at = rnd_below(len), n = 1 + rnd_below(100);
                if (n > MAX_MUTANT - len)
                    n = MAX_MUTANT - len;
                uint8_t c = buf[at];
                memmove(buf + at + n, buf + at, len - at);
                memset(buf + at, c, n);
                len += n;
            }
            break;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 1;
    }
    long mutations = 1000;
    const char *env = getenv("MV_FUZZ_MUTATIONS");
    if (env) {
        char *end = NULL;
        mutations = strtol(env, &end, 10);
        if (!end || *end || mutations < 0) {
            fprintf(stderr, "replay: bad MV_FUZZ_MUTATIONS\n");
            return 1;
        }
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "replay: cannot open corpus %s\n", argv[1]);
        return 1;
    }
    char **names = calloc(MAX_FILES, sizeof *names);
    seed *seeds = calloc(MAX_FILES, sizeof *seeds);
    uint8_t *buf = malloc(MAX_MUTANT);
    if (!names || !seeds || !buf) {
        fprintf(stderr, "replay: out of memory\n");
        return 1;
    }
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == MAX_FILES) {
            fprintf(stderr, "replay: too many corpus files\n");
            return 1;
        }
        names[n] = strdup(de->d_name);
        if (!names[n++]) {
            fprintf(stderr, "replay: out of memory\n");
            return 1;
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, name_cmp);
    size_t n_seeds = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (read_file(path, &seeds[n_seeds]) != 0) {
            fprintf(stderr, "replay: cannot read %s (or larger than %zu bytes)\n", path, MAX_FILE);
            return 1;
        }
        n_seeds++;
    }
    if (!n_seeds) {
        fprintf(stderr, "replay: corpus %s is empty\n", argv[1]);
        return 1;
    }
    size_t count = 0;
    for (size_t i = 0; i < n_seeds; i++) {
        run(seeds[i].data, seeds[i].len);
        count++;
    }
    for (size_t i = 0; i < n_seeds; i++) {
        for (long m = 0; m < mutations; m++) {
            size_t len = seeds[i].len < MAX_MUTANT ? seeds[i].len : MAX_MUTANT;
            memcpy(buf, seeds[i].data, len);
            len = mutate(buf, len, seeds, n_seeds);
            run(buf, len);
            count++;
        }
    }
    printf("replayed %zu inputs (%zu seed files, %ld mutations each)\n", count, n_seeds, mutations);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    for (size_t i = 0; i < n_seeds; i++)
        free(seeds[i].data);
    free(names);
    free(seeds);
    free(buf);
    return 0;
}
