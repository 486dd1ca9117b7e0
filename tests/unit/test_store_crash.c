/* test_store_crash.c - the storage engine under stress (mv_store.h, DESIGN section 4): group
 * commit from several threads while gc compacts, SIGKILL at random moments (every acknowledged
 * record survives recovery), and every write, sync, truncate, unlink, commit and allocation
 * failed in turn (the reopened store is complete or unchanged, never half-written). */
#include "storeutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#include "medvault/mv_mem.h"
#include "store/store_test.h"

#define FAR_FUTURE ((uint64_t)time(NULL) + 3600 * 24)

static mv_store *open_store(const char *dir, size_t pack_target)
{
    mv_store_options o = {pack_target, (size_t)1 << 30, 0, 0};
    mv_store *s = NULL;
    assert_int_equal(mv_store_open(dir, &o, &s), MV_OK);
    return s;
}

/* Uploads blocks (a, b0..b0+n) of `len` bytes for `who` and stores record id over them. */
static mv_err upload_and_record(mv_store *s, const char *dept, uint32_t a, uint32_t b0, size_t n,
                                size_t len, uint32_t who, const uint8_t id[16])
{
    su_blk k[8];
    mv_store_block_in in[8];
    uint8_t tags[8 * 32];
    mv_err rc, res = MV_ERR_IO;
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        su_blk_make(&k[i], dept, len, a, b0 + (uint32_t)i, who);
        in[i] = k[i].in;
        memcpy(tags + 32 * i, k[i].in.tag, 32);
    }
    rc = mv_store_put_blocks(s, in, n, NULL);
    if (rc == MV_OK) {
        mv_store_record_in r = {0};
        memcpy(r.id, id, 16);
        r.dept = dept;
        su_key(r.owner, who);
        r.tags = tags;
        r.n_tags = n;
        r.envelope = tags;
        r.envelope_len = 40;
        rc = mv_store_put_records(s, &r, 1, &res, (uint64_t)time(NULL));
        if (rc == MV_OK)
            rc = res;
    }
    for (size_t i = 0; i < n; i++)
        su_blk_free(&k[i]);
    return rc;
}

/* Fails the test unless record id is there with every block readable. */
static void assert_record(mv_store *s, const uint8_t id[16])
{
    mv_store_record_info info;
    uint8_t tags[8 * 32];
    size_t n = 0;
    assert_int_equal(mv_store_record_get(s, id, &info, NULL), MV_OK);
    assert_int_equal(mv_store_record_tags(s, id, tags, 8, &n), MV_OK);
    for (size_t i = 0; i < n; i++)
        su_assert_block(s, tags + 32 * i);
}

/* ------------------------------------------------------------------ group commit ---- */

enum { THREADS = 4, BATCHES = 40 };

typedef struct worker {
    mv_store *s;
    pthread_barrier_t *start;
    uint32_t index;
    int mixed; /* phase 2: records, deletes, reads, retries */
    int failures;
} worker;

static void *upload_worker(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->start);
    for (uint32_t b = 0; b < BATCHES; b++) {
        su_blk k[2];
        mv_store_block_in in[2];
        for (int i = 0; i < 2; i++) {
            su_blk_make(&k[i], "ward", 200 + (size_t)i, 100 + w->index, 2 * b + (uint32_t)i, w->index);
            in[i] = k[i].in;
        }
        if (mv_store_put_blocks(w->s, in, 2, NULL) != MV_OK)
            w->failures++;
        for (int i = 0; i < 2; i++)
            su_blk_free(&k[i]);
    }
    return NULL;
}

static void *mixed_worker(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->start);
    for (uint32_t b = 0; b < BATCHES / 2; b++) {
        uint8_t id[16];
        su_id(id, 200 + w->index, b);
        /* gc runs with a far-future clock, so a fresh upload may be freed before its record
         * lands (NOT_FOUND/FORBIDDEN): the client's answer is to upload again. */
        mv_err rc = MV_ERR_NOT_FOUND;
        for (int tries = 0; tries < 50 && (rc == MV_ERR_NOT_FOUND || rc == MV_ERR_FORBIDDEN); tries++)
            rc = upload_and_record(w->s, "ward", 300 + w->index, 4 * b, 3, 150, w->index, id);
        if (rc != MV_OK) {
            w->failures++;
            continue;
        }
        uint8_t tags[8 * 32];
        size_t n = 0;
        if (mv_store_record_tags(w->s, id, tags, 8, &n) != MV_OK)
            w->failures++;
        for (size_t i = 0; i < n; i++) {
            mv_buf buf;
            mv_buf_init(&buf, 4096);
            if (mv_store_block_read(w->s, tags + 32 * i, &buf) != MV_OK)
                w->failures++;
            mv_buf_clear(&buf);
        }
        if (b % 2 == 1 && mv_store_record_delete(w->s, id) != MV_OK)
            w->failures++;
    }
    return NULL;
}

typedef struct gc_loop {
    mv_store *s;
    _Atomic int stop;
    int runs, failures;
    uint64_t rewritten;
} gc_loop;

static void *gc_worker(void *arg)
{
    gc_loop *g = arg;
    while (!g->stop) {
        mv_store_gc_report rep;
        if (mv_store_gc(g->s, FAR_FUTURE, &rep) != MV_OK)
            g->failures++;
        g->rewritten += rep.packs_rewritten;
        g->runs++;
    }
    return NULL;
}

static void test_group_commit_threads(void **state)
{
    (void)state;
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    mv_store *s = open_store(dir, 8192);
    pthread_t th[THREADS];
    worker w[THREADS];
    pthread_barrier_t start;

    /* Phase 1: only uploads, all at once: the leader takes the queue, so syncs < calls. */
    pthread_barrier_init(&start, NULL, THREADS);
    for (uint32_t i = 0; i < THREADS; i++) {
        w[i] = (worker){s, &start, i, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, upload_worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    pthread_barrier_destroy(&start);
    uint64_t calls = mv_store_test_batches(s), commits = mv_store_test_commits(s);
    uint64_t syncs = mv_store_test_fsyncs(s);
    print_message("group commit: %" PRIu64 " calls, %" PRIu64 " commits, %" PRIu64 " syncs\n",
                  calls, commits, syncs);
    assert_int_equal(calls, THREADS * BATCHES);
    assert_true(commits < calls);
    assert_true(syncs < calls);
    for (uint32_t t = 0; t < THREADS; t++)
        for (uint32_t b = 0; b < 2 * BATCHES; b++) {
            su_blk k;
            uint8_t got[32];
            su_blk_make(&k, "ward", 200 + (size_t)(b % 2), 100 + t, b, t);
            assert_int_equal(mv_store_token_lookup(s, "ward", k.in.token, got), MV_OK);
            su_assert_block(s, k.in.tag);
            su_blk_free(&k);
        }
    su_assert_clean(s);

    /* Phase 2: records, reads and deletes while gc expires claims and compacts packs. */
    gc_loop g = {.s = s};
    pthread_t gt;
    pthread_barrier_init(&start, NULL, THREADS);
    assert_int_equal(pthread_create(&gt, NULL, gc_worker, &g), 0);
    for (uint32_t i = 0; i < THREADS; i++) {
        w[i] = (worker){s, &start, i, 1, 0};
        assert_int_equal(pthread_create(&th[i], NULL, mixed_worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    g.stop = 1;
    pthread_join(gt, NULL);
    pthread_barrier_destroy(&start);
    assert_int_equal(g.failures, 0);
    assert_true(g.runs > 0);
    print_message("gc: %d runs, %" PRIu64 " packs rewritten\n", g.runs, g.rewritten);
    mv_store_gc_report rep;
    assert_int_equal(mv_store_gc(s, FAR_FUTURE, &rep), MV_OK);
    assert_true(g.rewritten + rep.packs_rewritten > 0);
    /* Phase-1 blocks had no records: gone. Even-numbered phase-2 records remain, intact. */
    mv_store_stats st;
    assert_int_equal(mv_store_get_stats(s, &st), MV_OK);
    assert_int_equal(st.records, THREADS * BATCHES / 4);
    assert_int_equal(st.blocks, 3 * st.records);
    for (uint32_t t = 0; t < THREADS; t++)
        for (uint32_t b = 0; b < BATCHES / 2; b++) {
            uint8_t id[16];
            mv_store_record_info info;
            su_id(id, 200 + t, b);
            if (b % 2 == 0)
                assert_record(s, id);
            else
                assert_int_equal(mv_store_record_get(s, id, &info, NULL), MV_ERR_NOT_FOUND);
        }
    su_assert_clean(s);
    assert_int_equal(su_packs_size(dir), st.pack_bytes);
    mv_store_close(s);
    su_rmtree(dir);
}

/* --------------------------------------------------------------------- SIGKILL ---- */

/* The envelope of crash record id: its length and bytes follow from the id. */
static size_t crash_env(const uint8_t id[16], uint8_t env[300])
{
    size_t len = 40 + id[0] % 200;
    su_fill(env, len, id[1] | (uint32_t)id[2] << 8, id[3]);
    return len;
}

/* Several records in one put_records call: one envelope segment holds them all. */
static mv_err crash_batch(mv_store *s, uint32_t round, uint32_t i, size_t n, uint8_t ids[4][16])
{
    su_blk k;
    mv_store_record_in r[4];
    uint8_t env[4][300];
    mv_err res[4], rc;
    su_blk_make(&k, "ward", 200 + i % 30, 90000 + round, i, 9); /* a: apart from the others */
    rc = mv_store_put_blocks(s, &k.in, 1, NULL);
    for (size_t j = 0; rc == MV_OK && j < n; j++) {
        memset(&r[j], 0, sizeof r[j]);
        su_id(ids[j], 4000 + round, 4 * i + (uint32_t)j);
        memcpy(r[j].id, ids[j], 16);
        r[j].dept = "ward";
        su_key(r[j].owner, 9);
        r[j].tags = k.in.tag;
        r[j].n_tags = 1;
        r[j].envelope = env[j];
        r[j].envelope_len = crash_env(ids[j], env[j]);
    }
    if (rc == MV_OK)
        rc = mv_store_put_records(s, r, n, res, (uint64_t)time(NULL));
    for (size_t j = 0; rc == MV_OK && j < n; j++)
        rc = res[j];
    su_blk_free(&k);
    return rc;
}

/* A batch record read back after the crash: its envelope byte for byte, its block. */
static void assert_batch_record(mv_store *s, const uint8_t id[16])
{
    mv_store_record_info info;
    mv_buf eb;
    uint8_t env[300];
    size_t len = crash_env(id, env);
    mv_buf_init(&eb, 1024);
    assert_int_equal(mv_store_record_get(s, id, &info, &eb), MV_OK);
    assert_int_equal(eb.len, len);
    assert_memory_equal(eb.ptr, env, len);
    mv_buf_clear(&eb);
    assert_record(s, id);
}

static void crash_child(const char *dir, int wfd, uint32_t round)
{
    mv_store *s = NULL;
    if (mv_store_open(dir, &(mv_store_options){4096, (size_t)1 << 30, 0, 0}, &s) != MV_OK)
        _exit(2);
    for (uint32_t i = 0;; i++) {
        uint8_t ids[4][16], tagged[17];
        size_t nb = 1 + i % 4;
        if (crash_batch(s, round, i, nb, ids) != MV_OK)
            _exit(3);
        /* Batch records are acknowledged with a leading 'B' byte (17 bytes). */
        tagged[0] = 'B';
        for (size_t j = 0; j < nb; j++) {
            memcpy(tagged + 1, ids[j], 16);
            if (write(wfd, tagged, 17) != 17)
                _exit(5);
        }
        uint8_t id[16];
        su_id(id, 1000 + round, i);
        /* Block 0 of every record is shared (dedup); blocks 1.. are the record's own. */
        if (upload_and_record(s, "ward", 7, 0, 1, 120, 1, id) != MV_OK)
            _exit(3);
        su_id(id, 2000 + round, i);
        if (upload_and_record(s, "ward", 1000 * round + 1, 4 * i, 3, 90 + i % 50, 1, id) != MV_OK)
            _exit(3);
        if (i % 3 == 2) {
            if (mv_store_record_delete(s, id) != MV_OK)
                _exit(4);
        } else {
            uint8_t tagged1[17] = {'R'};
            memcpy(tagged1 + 1, id, 16);
            if (write(wfd, tagged1, 17) != 17)
                _exit(5);
        }
        if (i % 5 == 4 && mv_store_gc(s, FAR_FUTURE, NULL) != MV_OK)
            _exit(6);
    }
}

static void test_crash_kill(void **state)
{
    (void)state;
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    print_message("crash seed %u\n", seed);
    size_t acked_total = 0;
    uint8_t *acked = NULL;
    for (uint32_t round = 0; round < 5; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            crash_child(dir, p[1], round);
        }
        close(p[1]);
        long ms = 40 + rand() % 250;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            print_message("child exited with %d\n", WEXITSTATUS(status));
        assert_true(WIFSIGNALED(status)); /* it was still working, not failing */
        uint8_t id[17];
        size_t got = 0;
        for (;;) {
            /* Writes of 17 bytes to a pipe are atomic: a record is there whole or not. */
            ssize_t r = read(p[0], id, 17);
            if (r <= 0)
                break;
            assert_int_equal(r, 17);
            uint8_t *na = mv_realloc(acked, 17 * (acked_total + 1));
            assert_non_null(na);
            acked = na;
            memcpy(acked + 17 * acked_total++, id, 17);
            got++;
        }
        close(p[0]);
        print_message("round %u: killed after %ld ms, %zu records acknowledged\n", round, ms, got);
        /* Recovery: every record acknowledged in any round is there, whole; check is clean. */
        mv_store *s = open_store(dir, 4096);
        size_t batched = 0;
        for (size_t i = 0; i < acked_total; i++) {
            const uint8_t *a = acked + 17 * i;
            if (a[0] == 'B') {
                assert_batch_record(s, a + 1);
                batched++;
            } else {
                assert_record(s, a + 1);
            }
        }
        assert_true(acked_total == 0 || batched > 0);
        su_assert_clean(s);
        mv_store_stats st;
        assert_int_equal(mv_store_get_stats(s, &st), MV_OK);
        assert_int_equal(su_packs_size(dir), st.pack_bytes);
        mv_store_close(s);
    }
    assert_true(acked_total > 0);
    mv_free(acked);
    su_rmtree(dir);
}

/* ------------------------------------------------------------- fault injection ---- */

/* The base store each fault run starts from: records R0 {B0,B1}, R1 {B2,B3}; B4 belonged to a
 * deleted record, B5 was never referenced. With 4 KiB packs, pack 1 holds B0..B4 and pack 2
 * holds B5, so gc both compacts a pack and drops one. */
static void build_base(mv_store *s)
{
    uint8_t id[16];
    su_id(id, 50, 0);
    assert_int_equal(upload_and_record(s, "base", 50, 0, 2, 700, 1, id), MV_OK);
    su_id(id, 50, 1);
    assert_int_equal(upload_and_record(s, "base", 50, 2, 2, 700, 1, id), MV_OK);
    su_id(id, 50, 2);
    assert_int_equal(upload_and_record(s, "base", 50, 4, 1, 700, 1, id), MV_OK);
    assert_int_equal(mv_store_record_delete(s, id), MV_OK);
    su_blk k;
    su_blk_make(&k, "base", 700, 50, 5, 1);
    assert_int_equal(mv_store_put_blocks(s, &k.in, 1, NULL), MV_OK);
    su_blk_free(&k);
}

enum { UNCHANGED = 0, COMPLETE = 1, CONSISTENT = 2, BROKEN = -1 };

typedef struct fault_op {
    const char *name;
    mv_err (*run)(mv_store *s);
    int (*state)(mv_store *s); /* UNCHANGED, COMPLETE, or CONSISTENT (gc: any mix), BROKEN */
} fault_op;

static int has_token(mv_store *s, const char *dept, uint32_t a, uint32_t b)
{
    uint8_t tok[32], tag[32];
    su_bytes(tok, 32, 1, a, b);
    mv_err rc = mv_store_token_lookup(s, dept, tok, tag);
    assert_true(rc == MV_OK || rc == MV_ERR_NOT_FOUND);
    if (rc == MV_OK)
        su_assert_block(s, tag);
    return rc == MV_OK;
}

static int has_record(mv_store *s, uint32_t a, uint32_t b)
{
    uint8_t id[16];
    mv_store_record_info info;
    su_id(id, a, b);
    mv_err rc = mv_store_record_get(s, id, &info, NULL);
    assert_true(rc == MV_OK || rc == MV_ERR_NOT_FOUND);
    if (rc == MV_OK)
        assert_record(s, id);
    return rc == MV_OK;
}

static int all_or_none(int n, int have)
{
    return have == 0 ? UNCHANGED : have == n ? COMPLETE : BROKEN;
}

static mv_err op_put_blocks(mv_store *s)
{
    su_blk k[2];
    mv_store_block_in in[3];
    for (int i = 0; i < 2; i++) {
        su_blk_make(&k[i], "new", 900, 60, (uint32_t)i, 2);
        in[i] = k[i].in;
    }
    /* Plus a proof-of-ownership claim on base block B0 by principal 2, under a new token. */
    su_blk b0;
    su_blk_make(&b0, "new", 700, 50, 0, 2);
    in[2] = b0.in;
    in[2].data = NULL;
    su_bytes(in[2].token, 32, 1, 60, 2);
    mv_err rc = mv_store_put_blocks(s, in, 3, NULL);
    for (int i = 0; i < 2; i++)
        su_blk_free(&k[i]);
    su_blk_free(&b0);
    return rc;
}

static int st_put_blocks(mv_store *s)
{
    return all_or_none(3, has_token(s, "new", 60, 0) + has_token(s, "new", 60, 1) +
                              has_token(s, "new", 60, 2));
}

static mv_err op_put_records(mv_store *s)
{
    uint8_t tags[3 * 32];
    mv_store_record_in r[2];
    memset(r, 0, sizeof r);
    mv_err res[2];
    for (uint32_t i = 0; i < 3; i++) {
        su_blk k;
        su_blk_make(&k, "base", 700, 50, i, 1);
        memcpy(tags + 32 * i, k.in.tag, 32);
        su_blk_free(&k);
    }
    for (uint32_t i = 0; i < 2; i++) {
        su_id(r[i].id, 61, i);
        r[i].dept = "base";
        su_key(r[i].owner, 1);
        r[i].tags = tags + 32 * i;
        r[i].n_tags = 2;
        r[i].envelope = tags;
        r[i].envelope_len = 77;
    }
    mv_err rc = mv_store_put_records(s, r, 2, res, (uint64_t)time(NULL));
    if (rc == MV_OK) {
        assert_int_equal(res[0], MV_OK);
        assert_int_equal(res[1], MV_OK);
    }
    return rc;
}

static int st_put_records(mv_store *s)
{
    return all_or_none(2, has_record(s, 61, 0) + has_record(s, 61, 1));
}

static mv_err op_delete(mv_store *s)
{
    uint8_t id[16];
    su_id(id, 50, 0);
    return mv_store_record_delete(s, id);
}

static int st_delete(mv_store *s)
{
    su_blk k;
    uint64_t refs = 9;
    su_blk_make(&k, "base", 700, 50, 0, 1);
    assert_int_equal(mv_store_block_info(s, k.in.tag, NULL, &refs), MV_OK);
    su_blk_free(&k);
    int present = has_record(s, 50, 0);
    if (present != (refs == 1))
        return BROKEN;
    return present ? UNCHANGED : COMPLETE;
}

static mv_err op_set_readers(mv_store *s)
{
    uint8_t id[16], readers[2 * 32];
    su_id(id, 50, 1);
    su_key(readers, 30);
    su_key(readers + 32, 31);
    return mv_store_record_set_readers(s, id, readers, 2, (const uint8_t *)"new envelope", 12);
}

static int st_set_readers(mv_store *s)
{
    uint8_t id[16], r30[32];
    mv_store_record_info info;
    su_id(id, 50, 1);
    su_key(r30, 30);
    assert_int_equal(mv_store_record_get(s, id, &info, NULL), MV_OK);
    if (info.n_readers == 1 && info.envelope_len == 40)
        return UNCHANGED;
    if (info.n_readers == 3 && info.envelope_len == 12 && !memcmp(info.readers[1], r30, 32))
        return COMPLETE;
    return BROKEN;
}

static mv_err op_set_patient(mv_store *s)
{
    uint8_t id[16], patient[32], reader[32];
    su_id(id, 50, 1);
    su_key(patient, 32);
    su_key(reader, 30);
    return mv_store_record_set_access(s, id, patient, reader, 1, (const uint8_t *)"patient envelope", 16);
}

static int st_set_patient(mv_store *s)
{
    uint8_t id[16], patient[32], zero[32] = {0};
    mv_store_record_info info;
    su_id(id, 50, 1);
    su_key(patient, 32);
    assert_int_equal(mv_store_record_get(s, id, &info, NULL), MV_OK);
    if (info.n_readers == 1 && info.envelope_len == 40 && !memcmp(info.patient, zero, 32))
        return UNCHANGED;
    if (info.n_readers == 3 && info.envelope_len == 16 && !memcmp(info.patient, patient, 32) &&
        !memcmp(info.readers[1], patient, 32))
        return COMPLETE;
    return BROKEN;
}

static mv_err op_gc(mv_store *s) { return mv_store_gc(s, FAR_FUTURE, NULL); }

static int st_gc(mv_store *s)
{
    /* gc is several transactions; any prefix of them is fine as long as the live records are
     * whole (checked here) and check is clean (checked by the caller). */
    if (!has_record(s, 50, 0) || !has_record(s, 50, 1))
        return BROKEN;
    mv_store_stats st;
    assert_int_equal(mv_store_get_stats(s, &st), MV_OK);
    /* Complete: nothing dead left, the four blocks and the two records' envelope segments
     * (36 framing + 4 header + envelope + one byte per block id each). */
    uint64_t live = 4 * (700 + 36);
    for (uint32_t b = 0; b < 2; b++) {
        uint8_t id[16];
        mv_store_record_info info;
        su_id(id, 50, b);
        assert_int_equal(mv_store_record_get(s, id, &info, NULL), MV_OK);
        live += 40 + info.n_tags + info.envelope_len;
    }
    if (st.blocks == 4 && st.pack_bytes == live)
        return COMPLETE;
    return CONSISTENT;
}

static const fault_op ops[] = {
    {"put_blocks", op_put_blocks, st_put_blocks},
    {"put_records", op_put_records, st_put_records},
    {"record_delete", op_delete, st_delete},
    {"set_readers", op_set_readers, st_set_readers},
    {"set_patient", op_set_patient, st_set_patient},
    {"gc", op_gc, st_gc},
};

static void arm(int mem, size_t n)
{
    if (mem)
        mv_mem_fail_after(n);
    else
        mv_store_test_fail_io_after(n);
}

static void disarm(void)
{
    mv_mem_fail_after(SIZE_MAX);
    mv_store_test_fail_io_after(SIZE_MAX);
}

/* Fails the n-th step of op for n = 0, 1, ... until op succeeds. After each failure the same
 * handle must still work (retry succeeds), and a reopened store must be unchanged or complete
 * (for `reopen_first`, the reopen happens before the retry). */
static void fault_loop(const fault_op *op, int mem, int reopen_first)
{
    size_t n;
    for (n = 0;; n++) {
        char dir[256];
        assert_true(n < 2000);
        snprintf(dir, sizeof dir, "%s", tu_tmpdir());
        mv_store *s = open_store(dir, 4096);
        build_base(s);
        assert_int_equal(op->state(s), op->state == st_gc ? CONSISTENT : UNCHANGED);
        arm(mem, n);
        mv_err rc = op->run(s);
        disarm();
        if (rc == MV_OK) {
            assert_int_equal(op->state(s), COMPLETE);
            su_assert_clean(s);
            mv_store_close(s);
            su_rmtree(dir);
            break;
        }
        assert_true(rc == (mem ? MV_ERR_NOMEM : MV_ERR_IO));
        if (reopen_first) {
            mv_store_close(s);
            s = open_store(dir, 4096);
            su_assert_clean(s);
        }
        int st = op->state(s);
        assert_true(st == UNCHANGED || st == COMPLETE || (op->state == st_gc && st == CONSISTENT));
        if (st != COMPLETE)
            assert_int_equal(op->run(s), MV_OK);
        assert_int_equal(op->state(s), COMPLETE);
        mv_store_close(s);
        s = open_store(dir, 4096);
        assert_int_equal(op->state(s), COMPLETE);
        su_assert_clean(s);
        mv_store_close(s);
        su_rmtree(dir);
    }
    print_message("%s: %s faults 0..%zu %s\n", op->name, mem ? "allocation" : "I/O", n,
                  reopen_first ? "(reopened)" : "(same handle)");
    assert_true(n >= 1); /* at least one fault was injected and survived */
}

static void test_fault_io_reopen(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        fault_loop(&ops[i], 0, 1);
}

static void test_fault_io_same_handle(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        fault_loop(&ops[i], 0, 0);
}

static void test_fault_alloc(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        fault_loop(&ops[i], 1, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_commit_threads),
        cmocka_unit_test(test_crash_kill),
        cmocka_unit_test(test_fault_io_reopen),
        cmocka_unit_test(test_fault_io_same_handle),
        cmocka_unit_test(test_fault_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
