/* test_audit.c - the audit log (mv_audit.h, docs/audit.md): append and verify; an edited,
 * deleted or moved line is found at its seq; a re-hashed chain or a forged checkpoint is
 * caught by the checkpoint signature; a wrong expected key; a torn tail is cut on reopen and
 * the cut logged; a changed key starts a new log; concurrent appends keep the chain valid;
 * mv_audit_read pages; the HTTP server logs requests with the verified principal and a note
 * but no query string, and not /healthz. */
#include "testutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_audit_http.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_http.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_service.h"
#include "medvault/mv_sig.h"

static uint8_t g_pk[32], g_sk[64];

static int setup(void **state)
{
    (void)state;
    return mv_sign_keypair(g_pk, g_sk) == MV_OK ? 0 : -1;
}

static const mv_audit_options no_timer = {.checkpoint_entries = 4, .checkpoint_seconds = -1};

static const char *log_path(const char *dir)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/audit/audit.log", dir);
    return p;
}

/* A closed log with n request entries (checkpoint every 4 lines). */
static const char *make_log(size_t n)
{
    const char *dir = tu_tmpdir();
    mv_audit *a = NULL;
    char action[64];
    assert_int_equal(mv_audit_open(dir, "test", g_sk, &no_timer, &a), MV_OK);
    for (size_t i = 0; i < n; i++) {
        snprintf(action, sizeof action, "GET /v1/records/%zu", i);
        assert_int_equal(mv_audit_append(a, i % 2 ? g_pk : NULL, "127.0.0.1", action, 200, "ok"), MV_OK);
    }
    mv_audit_close(a);
    return dir;
}

/* The file's lines, split in place (array and text freed with mv_free). */
typedef struct lines {
    char *text;
    char *line[256];
    size_t n;
} lines;

static void read_lines(const char *path, lines *l)
{
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(mv_file_read(path, 1 << 20, &b), MV_OK);
    size_t len = 0;
    l->text = (char *)mv_buf_steal(&b, &len);
    l->n = 0;
    for (char *p = l->text; *p;) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = 0;
        assert_true(l->n < 256);
        l->line[l->n++] = p;
        p = nl + 1;
    }
}

static mv_err verify_lines(const lines *l, const uint8_t *key, mv_audit_report *rep)
{
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    for (size_t i = 0; i < l->n; i++)
        if (l->line[i]) {
            assert_int_equal(mv_buf_puts(&b, l->line[i]), MV_OK);
            assert_int_equal(mv_buf_puts(&b, "\n"), MV_OK);
        }
    mv_err rc = mv_audit_verify_buf(b.ptr, b.len, key, rep);
    mv_buf_clear(&b);
    return rc;
}

/* Recomputes every hash from line `from` on, as an attacker without the key could:
 * hash = SHA-256("medvault-audit-v1" || prev || line without its hash member). */
static void rehash(lines *l, size_t from, char store[][2048])
{
    uint8_t prev[32] = {0}, h[32];
    for (size_t i = 0; i < l->n; i++) {
        char *hp = strstr(l->line[i], ",\"hash\":\"");
        assert_non_null(hp);
        size_t bl = (size_t)(hp - l->line[i]);
        if (i >= from) {
            char body[2048];
            assert_true(bl + 2 < sizeof body);
            memcpy(body, l->line[i], bl);
            body[bl] = '}';
            uint8_t in[17 + 32 + 2048];
            memcpy(in, "medvault-audit-v1", 17);
            memcpy(in + 17, prev, 32);
            memcpy(in + 49, body, bl + 1);
            assert_int_equal(mv_sha256(h, in, 49 + bl + 1), MV_OK);
            char hex[65];
            assert_int_equal(mv_hex_encode(hex, sizeof hex, h, 32), MV_OK);
            snprintf(store[i], 2048, "%.*s,\"hash\":\"%s\"}", (int)bl, l->line[i], hex);
            l->line[i] = store[i];
        } else {
            assert_int_equal(mv_hex_decode_exact(h, 32, hp + 9, 64), MV_OK);
        }
        memcpy(prev, h, 32);
    }
}

static size_t find_line(const lines *l, const char *needle)
{
    for (size_t i = 0; i < l->n; i++)
        if (strstr(l->line[i], needle))
            return i;
    fail_msg("no line with %s", needle);
    return 0;
}

static void test_append_verify(void **state)
{
    (void)state;
    const char *dir = make_log(10);
    mv_audit_report rep;
    assert_int_equal(mv_audit_verify_file(log_path(dir), g_pk, &rep), MV_OK);
    /* genesis, start, 10 requests, stop, and checkpoints every 4 lines plus the final one */
    assert_int_equal(rep.entries, 12);
    assert_true(rep.checkpoints >= 4);
    assert_int_equal(rep.unsigned_tail, 0);
    assert_int_equal(rep.last_checkpoint, rep.lines - 1);
    assert_string_equal(rep.component, "test");
    assert_memory_equal(rep.key, g_pk, 32);
    assert_int_equal(rep.problem, MV_AUDIT_OK);
    /* Without an expected key the genesis key is reported. */
    assert_int_equal(mv_audit_verify_file(log_path(dir), NULL, &rep), MV_OK);
    assert_memory_equal(rep.key, g_pk, 32);
    struct stat st;
    assert_int_equal(stat(log_path(dir), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char adir[512];
    snprintf(adir, sizeof adir, "%s/audit", dir);
    assert_int_equal(stat(adir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* Reopening resumes the same chain. */
    mv_audit *a = NULL;
    assert_int_equal(mv_audit_open(dir, "test", g_sk, &no_timer, &a), MV_OK);
    assert_int_equal(mv_audit_count(a), rep.lines + 1); /* + "start" */
    assert_int_equal(mv_audit_append(a, NULL, "10.0.0.1", "POST /v1/x", 403, "decoy:forged"), MV_OK);
    mv_audit *second = NULL;
    assert_int_equal(mv_audit_open(dir, "test", g_sk, &no_timer, &second), MV_ERR_BUSY); /* one writer */
    assert_null(second);
    mv_audit_close(a);
    mv_audit_report rep2;
    assert_int_equal(mv_audit_verify_file(log_path(dir), g_pk, &rep2), MV_OK);
    assert_int_equal(rep2.entries, rep.entries + 3);
    lines l;
    read_lines(log_path(dir), &l);
    size_t k = find_line(&l, "decoy:forged");
    assert_non_null(strstr(l.line[k], "\"result\":403"));
    mv_free(l.text);
}

static void test_edit_detected(void **state)
{
    (void)state;
    const char *dir = make_log(10);
    lines l;
    mv_audit_report rep;
    read_lines(log_path(dir), &l);
    size_t k = find_line(&l, "/v1/records/5\"");
    char edited[2048];
    snprintf(edited, sizeof edited, "%s", l.line[k]);
    char *r = strstr(edited, "\"result\":200");
    assert_non_null(r);
    memcpy(r, "\"result\":404", 12);
    l.line[k] = edited;
    assert_int_equal(verify_lines(&l, g_pk, &rep), MV_ERR_VERIFY);
    assert_int_equal(rep.problem, MV_AUDIT_HASH);
    assert_int_equal(rep.bad_seq, k);
    assert_int_equal(rep.lines, k);
    /* An attacker who also recomputes every later hash is caught by the next checkpoint. */
    static char store[256][2048];
    rehash(&l, k, store);
    assert_int_equal(verify_lines(&l, g_pk, &rep), MV_ERR_VERIFY);
    assert_int_equal(rep.problem, MV_AUDIT_SIG);
    assert_true(rep.bad_seq > k);
    assert_non_null(strstr(l.line[rep.bad_seq], "\"type\":\"checkpoint\""));
    /* Non-canonical spacing is refused too. */
    mv_free(l.text);
    read_lines(log_path(dir), &l);
    snprintf(edited, sizeof edited, "%s", l.line[k]);
    r = strstr(edited, "\"result\":");
    memmove(r + 10, r + 9, strlen(r + 9) + 1);
    r[9] = ' ';
    l.line[k] = edited;
    assert_int_equal(verify_lines(&l, g_pk, &rep), MV_ERR_VERIFY);
    assert_int_equal(rep.problem, MV_AUDIT_BAD_LINE);
    assert_int_equal(rep.bad_seq, k);
    mv_free(l.text);
}

static void test_delete_reorder_detected(void **state)
{
    (void)state;
    const char *dir = make_log(10);
    lines l;
    mv_audit_report rep;
    read_lines(log_path(dir), &l);
    size_t k = find_line(&l, "/v1/records/3\"");
    char *saved = l.line[k];
    l.line[k] = NULL; /* delete */
    assert_int_equal(verify_lines(&l, g_pk, &rep), MV_ERR_VERIFY);
    assert_int_equal(rep.problem, MV_AUDIT_SEQ);
    assert_int_equal(rep.bad_seq, k);
    l.line[k] = l.line[k + 1]; /* swap k and k+1 */
    l.line[k + 1] = saved;
    assert_int_equal(verify_lines(&l, g_pk, &rep), MV_ERR_VERIFY);
    assert_int_equal(rep.problem, MV_AUDIT_SEQ);
    assert_int_equal(rep.bad_seq, k);
    l.line[k + 1] = l.line[k];
    l.line[k] = saved;
    assert_int_equal(verify_lines(&l, g_pk, &rep), MV_OK);
    /* Deleting the first line removes the genesis. */
    saved = l.line[0];
    l.line[0] = NULL;
    assert_int_equal(verify_lines(&l, g_pk, &rep), MV_ERR_VERIFY);
    assert_int_equal(rep.problem, MV_AUDIT_SEQ);
    assert_int_equal(rep.bad_seq, 0);
    l.line[0] = saved;
    /* What the file alone cannot show: cutting the tail including the last checkpoint leaves a
     * valid, shorter log whose tail is unsigned (a warning); an external anchor is needed. */
    l.n--;
    assert_int_equal(verify_lines(&l, g_pk, &rep), MV_OK);
    assert_int_equal(rep.unsigned_tail, 1);
    l.n = 0;
    assert_int_equal(verify_lines(&l, g_pk, &rep), MV_ERR_VERIFY);
    assert_int_equal(rep.problem, MV_AUDIT_EMPTY);
    mv_free(l.text);
}

static void test_forged_checkpoint(void **state)
{
    (void)state;
    const char *dir = make_log(6);
    lines l;
    mv_audit_report rep;
    static char store[256][2048];
    read_lines(log_path(dir), &l);
    size_t k = find_line(&l, "\"type\":\"checkpoint\"");
    char forged[2048];
    snprintf(forged, sizeof forged, "%s", l.line[k]);
    char *sig = strstr(forged, "\"sig\":\"");
    assert_non_null(sig);
    sig[7] = sig[7] == '0' ? '1' : '0';
    l.line[k] = forged;
    /* The flipped signature changes the line: the hash catches it first... */
    assert_int_equal(verify_lines(&l, g_pk, &rep), MV_ERR_VERIFY);
    assert_int_equal(rep.problem, MV_AUDIT_HASH);
    assert_int_equal(rep.bad_seq, k);
    /* ...and with the chain re-hashed the signature check does. */
    rehash(&l, k, store);
    assert_int_equal(verify_lines(&l, g_pk, &rep), MV_ERR_VERIFY);
    assert_int_equal(rep.problem, MV_AUDIT_SIG);
    assert_int_equal(rep.bad_seq, k);
    mv_free(l.text);
    /* A whole log signed by another key verifies only without --key. */
    uint8_t opk[32], osk[64];
    assert_int_equal(mv_sign_keypair(opk, osk), MV_OK);
    assert_int_equal(mv_audit_verify_file(log_path(dir), opk, &rep), MV_ERR_VERIFY);
    assert_int_equal(rep.problem, MV_AUDIT_KEY);
    assert_int_equal(rep.bad_seq, 0);
    /* A checkpoint naming another key than the genesis is refused. */
    read_lines(log_path(dir), &l);
    char hex[65];
    assert_int_equal(mv_hex_encode(hex, sizeof hex, opk, 32), MV_OK);
    snprintf(forged, sizeof forged, "%s", l.line[k]);
    char *kp = strstr(forged, "\"key\":\"");
    memcpy(kp + 7, hex, 64);
    l.line[k] = forged;
    rehash(&l, k, store);
    assert_int_equal(verify_lines(&l, NULL, &rep), MV_ERR_VERIFY);
    assert_int_equal(rep.problem, MV_AUDIT_SIG);
    assert_int_equal(rep.bad_seq, k);
    mv_free(l.text);
}

static void test_torn_tail(void **state)
{
    (void)state;
    const char *dir = make_log(5);
    mv_audit_report rep;
    int fd = open(log_path(dir), O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    static const char partial[] = "{\"seq\":99,\"time\":1,\"type\":\"requ";
    assert_int_equal(write(fd, partial, sizeof partial - 1), (ssize_t)(sizeof partial - 1));
    close(fd);
    assert_int_equal(mv_audit_verify_file(log_path(dir), g_pk, &rep), MV_ERR_VERIFY);
    assert_int_equal(rep.problem, MV_AUDIT_TORN);
    uint64_t before = rep.lines;
    assert_int_equal(rep.bad_seq, before);
    mv_audit *a = NULL;
    assert_int_equal(mv_audit_open(dir, "test", g_sk, &no_timer, &a), MV_OK);
    mv_audit_close(a);
    assert_int_equal(mv_audit_verify_file(log_path(dir), g_pk, &rep), MV_OK);
    lines l;
    read_lines(log_path(dir), &l);
    char needle[64];
    snprintf(needle, sizeof needle, "cut a torn final line of %zu bytes\"", sizeof partial - 1);
    size_t k = find_line(&l, needle);
    assert_int_equal(k, before);
    mv_free(l.text);
    /* A log that fails verification is not appended to. */
    read_lines(log_path(dir), &l);
    size_t j = find_line(&l, "/v1/records/2\"");
    char *r = strstr(l.line[j], "\"result\":200");
    memcpy(r, "\"result\":201", 12);
    FILE *f = fopen(log_path(dir), "w");
    assert_non_null(f);
    for (size_t i = 0; i < l.n; i++)
        fprintf(f, "%s\n", l.line[i]);
    fclose(f);
    mv_free(l.text);
    assert_int_equal(mv_audit_open(dir, "test", g_sk, &no_timer, &a), MV_ERR_VERIFY);
    assert_null(a);
}

static void test_key_change_starts_new_log(void **state)
{
    (void)state;
    const char *dir = make_log(3);
    mv_audit_report old, rep;
    uint8_t npk[32], nsk[64];
    assert_int_equal(mv_audit_verify_file(log_path(dir), g_pk, &old), MV_OK);
    assert_int_equal(mv_sign_keypair(npk, nsk), MV_OK);
    mv_audit *a = NULL;
    assert_int_equal(mv_audit_open(dir, "test", nsk, &no_timer, &a), MV_OK);
    mv_audit_close(a);
    assert_int_equal(mv_audit_verify_file(log_path(dir), npk, &rep), MV_OK);
    lines l;
    read_lines(log_path(dir), &l);
    char hex[65];
    assert_int_equal(mv_hex_encode(hex, sizeof hex, old.head, 32), MV_OK);
    assert_non_null(strstr(l.line[0], hex)); /* the new genesis names the old head */
    mv_free(l.text);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/audit/audit.log.* >/dev/null 2>&1", dir);
    assert_int_equal(system(cmd), 0);
}

#define THREADS 8
#define PER_THREAD 150

static void *appender(void *arg)
{
    mv_audit *a = arg;
    for (int i = 0; i < PER_THREAD; i++)
        if (mv_audit_append(a, g_pk, "127.0.0.1", "POST /v1/blocks", 200, NULL) != MV_OK)
            return (void *)1;
    return NULL;
}

static void test_concurrent_appends(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_audit *a = NULL;
    mv_audit_options o = {.checkpoint_entries = 16, .checkpoint_seconds = 0.2, .sync_seconds = 0.05};
    pthread_t t[THREADS];
    assert_int_equal(mv_audit_open(dir, "storage", g_sk, &o, &a), MV_OK);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, appender, a), 0);
    for (int i = 0; i < THREADS; i++) {
        void *r = NULL;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_null(r);
    }
    mv_audit_close(a);
    mv_audit_report rep;
    assert_int_equal(mv_audit_verify_file(log_path(dir), g_pk, &rep), MV_OK);
    assert_int_equal(rep.entries, THREADS * PER_THREAD + 2);
    assert_true(rep.checkpoints >= THREADS * PER_THREAD / 17);
    assert_int_equal(rep.unsigned_tail, 0);
}

static void test_read_pages_and_timer(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_audit *a = NULL;
    mv_audit_options o = {.checkpoint_entries = 1000, .checkpoint_seconds = -1};
    mv_buf b;
    mv_audit_report rep;
    assert_int_equal(mv_audit_open(dir, "keyserver", g_sk, &o, &a), MV_OK);
    for (int i = 0; i < 2100; i++)
        assert_int_equal(mv_audit_append(a, NULL, "127.0.0.1", "GET /v1/info", 200, NULL), MV_OK);
    mv_buf_init(&b, 64 << 20);
    /* The whole open log: valid, with an unsigned tail (no checkpoint yet). */
    assert_int_equal(mv_audit_read(a, 0, MV_AUDIT_FETCH_MAX, &b), MV_OK);
    assert_int_equal(mv_audit_verify_buf(b.ptr, b.len, g_pk, &rep), MV_OK);
    assert_int_equal(rep.entries, 2101); /* start + 2100 */
    assert_int_equal(rep.checkpoints, 2); /* after every 1000 lines */
    assert_int_equal(rep.lines, 2104);
    assert_int_equal(rep.unsigned_tail, 2104 - rep.last_checkpoint - 1);
    assert_true(rep.unsigned_tail > 0);
    /* A page from the middle, across the read index's marks. */
    mv_buf_reset(&b);
    assert_int_equal(mv_audit_read(a, 1020, 10, &b), MV_OK);
    assert_int_equal(strncmp((const char *)b.ptr, "{\"seq\":1020,", 12), 0);
    size_t nl = 0;
    for (size_t i = 0; i < b.len; i++)
        nl += b.ptr[i] == '\n';
    assert_int_equal(nl, 10);
    assert_non_null(strstr((const char *)b.ptr, "{\"seq\":1029,"));
    assert_null(strstr((const char *)b.ptr, "{\"seq\":1030,"));
    mv_buf_reset(&b);
    assert_int_equal(mv_audit_read(a, 5000, 10, &b), MV_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(mv_audit_checkpoint(a), MV_OK);
    mv_buf_reset(&b);
    assert_int_equal(mv_audit_read(a, 0, MV_AUDIT_FETCH_MAX, &b), MV_OK);
    assert_int_equal(mv_audit_verify_buf(b.ptr, b.len, g_pk, &rep), MV_OK);
    assert_int_equal(rep.unsigned_tail, 0);
    mv_audit_close(a);
    /* The timer writes a checkpoint once entries wait long enough. */
    o.checkpoint_seconds = 0.2;
    o.sync_seconds = 0.05;
    assert_int_equal(mv_audit_open(dir, "keyserver", g_sk, &o, &a), MV_OK);
    assert_int_equal(mv_audit_append(a, NULL, "127.0.0.1", "GET /v1/info", 200, NULL), MV_OK);
    struct timespec ts = {0, 600 * 1000000L};
    nanosleep(&ts, NULL);
    mv_buf_reset(&b);
    assert_int_equal(mv_audit_read(a, 0, MV_AUDIT_FETCH_MAX, &b), MV_OK);
    assert_int_equal(mv_audit_verify_buf(b.ptr, b.len, g_pk, &rep), MV_OK);
    assert_int_equal(rep.unsigned_tail, 0);
    mv_audit_close(a);
    mv_buf_clear(&b);
}

static void test_key_load(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[512];
    uint8_t sk1[64], sk2[64];
    struct stat st;
    snprintf(path, sizeof path, "%s/audit.key", dir);
    assert_int_equal(mv_audit_key_load(path, sk1), MV_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(mv_audit_key_load(path, sk2), MV_OK);
    assert_memory_equal(sk1, sk2, 64);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(mv_audit_key_load(path, sk2), MV_ERR_AUTH);
    assert_true(tu_all_zero(sk2, 64));
    assert_int_equal(chmod(path, 0600), 0);
    FILE *f = fopen(path, "a");
    fputc('x', f);
    fclose(f);
    assert_int_equal(mv_audit_key_load(path, sk2), MV_ERR_PARSE);
    mv_audit *a = NULL;
    assert_int_equal(mv_audit_open(dir, "Bad Name", g_sk, NULL, &a), MV_ERR_INVAL);
    assert_int_equal(mv_audit_open(dir, "", g_sk, NULL, &a), MV_ERR_INVAL);
    mv_audit_report rep;
    snprintf(path, sizeof path, "%s/none", dir);
    assert_int_equal(mv_audit_verify_file(path, NULL, &rep), MV_ERR_NOT_FOUND);
}

/* Every allocation of an append, an open and a verify fails in turn: the call fails cleanly
 * and the log on disk stays valid. */
/* Pins the canonical line format byte for byte: a log written by an earlier build (genesis,
 * event, request and checkpoint lines) must still verify, and verification re-serialises every
 * line and compares it with the stored bytes, so any change to the writer fails here. */
static void test_stored_log_still_canonical(void **state)
{
    (void)state;
    const char *fuzz = getenv("MV_FUZZ_DIR");
    char path[1024];
    assert_non_null(fuzz);
    assert_true((size_t)snprintf(path, sizeof path, "%s/corpus/audit/valid", fuzz) < sizeof path);
    mv_audit_report rep;
    assert_int_equal(mv_audit_verify_file(path, NULL, &rep), MV_OK);
    assert_int_equal(rep.problem, MV_AUDIT_OK);
    assert_int_equal(rep.lines, 8);
    assert_int_equal(rep.checkpoints, 1);
    assert_int_equal(rep.unsigned_tail, 0);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    const char *dir = make_log(2);
    mv_audit *a = NULL;
    mv_audit_report rep;
    size_t failed = 0;
    for (size_t n = 0; n < 64; n++) {
        mv_mem_fail_after(n);
        mv_err rc = mv_audit_open(dir, "test", g_sk, &no_timer, &a);
        mv_mem_fail_after(SIZE_MAX);
        if (rc != MV_OK) {
            assert_null(a);
            failed++;
            continue;
        }
        mv_mem_fail_after(n);
        rc = mv_audit_append(a, g_pk, "127.0.0.1", "GET /v1/x", 200, NULL);
        mv_mem_fail_after(SIZE_MAX);
        failed += rc != MV_OK;
        mv_audit_close(a);
        a = NULL;
        assert_int_equal(mv_audit_verify_file(log_path(dir), g_pk, &rep), MV_OK);
    }
    assert_true(failed > 0); /* the injection reached the code */
    for (size_t n = 0; n < 16; n++) {
        mv_mem_fail_after(n);
        mv_err rc = mv_audit_verify_file(log_path(dir), g_pk, &rep);
        mv_mem_fail_after(SIZE_MAX);
        assert_true(rc == MV_OK || rc == MV_ERR_NOMEM);
    }
}

/* ---- the HTTP server's hook ---- */

typedef struct hctx {
    mv_auth_verifier *v;
} hctx;

static void handler(void *vctx, const mv_http_request *req, mv_http_response *resp)
{
    hctx *c = vctx;
    uint8_t key[32];
    if (!strcmp(req->path, "/signed")) {
        mv_err rc = mv_http_verify_key(c->v, req, (uint64_t)time(NULL), key);
        if (rc != MV_OK) {
            mv_http_respond_auth_failure(resp, rc);
            return;
        }
    }
    assert_int_equal(mv_http_response_audit_note(resp, "decoy:test"), MV_OK);
    assert_int_equal(mv_http_response_audit_note(resp, "Bad Note"), MV_ERR_INVAL);
    assert_string_equal(resp->audit_note, "decoy:test");
    mv_http_respond_fmt(resp, 201, "{}");
}

static void call(uint16_t port, const char *path, int sign, long want)
{
    char url[256];
    mv_httpc_call c;
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)port, path);
    mv_httpc_call_init(&c);
    c.url = url;
    if (sign)
        assert_int_equal(mv_httpc_sign(&c, g_pk, g_sk, NULL, (uint64_t)time(NULL)), MV_OK);
    assert_int_equal(mv_httpc_run(&c, 1), MV_OK);
    assert_int_equal(c.status, want);
    mv_httpc_call_clear(&c);
}

static void test_http_hook(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_audit *a = NULL;
    mv_http_server *srv = NULL;
    hctx c;
    uint8_t hpk[32], hsk[64];
    assert_int_equal(mv_sign_keypair(hpk, hsk), MV_OK);
    assert_int_equal(mv_auth_verifier_new(hpk, 300, 1024, &c.v), MV_OK);
    assert_int_equal(mv_audit_open(dir, "web", g_sk, &no_timer, &a), MV_OK);
    mv_http_config cfg = {.listen = "127.0.0.1:0", .max_body = 1024, .handler = handler, .ctx = &c,
                       .on_answer = mv_audit_http_record, .on_answer_ctx = a};
    assert_int_equal(mv_http_server_start(&cfg, &srv), MV_OK);
    uint16_t port = mv_http_server_port(srv);
    assert_int_equal(mv_auth_verifier_add_listen(c.v, "127.0.0.1:0", port), MV_OK);
    call(port, "/plain?secret=marker123", 0, 201);
    call(port, "/signed?x=1", 1, 201);
    call(port, "/healthz", 0, 200);
    mv_http_server_stop(srv);
    mv_audit_close(a);
    mv_auth_verifier_free(c.v);
    mv_audit_report rep;
    assert_int_equal(mv_audit_verify_file(log_path(dir), g_pk, &rep), MV_OK);
    assert_int_equal(rep.entries, 4); /* start, 2 requests, stop: /healthz is not logged */
    lines l;
    char pkhex[65];
    assert_int_equal(mv_hex_encode(pkhex, sizeof pkhex, g_pk, 32), MV_OK);
    read_lines(log_path(dir), &l);
    size_t k = find_line(&l, "\"action\":\"GET /plain\"");
    assert_non_null(strstr(l.line[k], "\"principal\":\"\",\"address\":\"127.0.0.1\""));
    assert_non_null(strstr(l.line[k], "\"result\":201,\"note\":\"decoy:test\""));
    k = find_line(&l, "\"action\":\"GET /signed\"");
    assert_non_null(strstr(l.line[k], pkhex));
    for (size_t i = 0; i < l.n; i++) {
        assert_null(strstr(l.line[i], "marker123"));
        assert_null(strstr(l.line[i], "healthz"));
    }
    mv_free(l.text);
}

/* The daemon scaffold: its verifier accepts a request signed for the port chosen at bind
 * time, the port file names that port, the metrics token exists (0600), every answered request
 * except /healthz reaches the audit log, and stopping frees and zeroes everything. */
static void test_service_scaffold(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char port_file[512], tok[512];
    mv_audit *a = NULL;
    mv_service svc;
    hctx c;
    snprintf(port_file, sizeof port_file, "%s/port", dir);
    snprintf(tok, sizeof tok, "%s/metrics.token", dir);
    assert_int_equal(mv_audit_open(dir, "web", g_sk, &no_timer, &a), MV_OK);
    mv_service_config sc = {.component = "svc_test", .dir = dir, .skew_seconds = 300, .audit = a};
    memcpy(sc.hospital_pk, g_pk, 32);
    assert_int_equal(mv_service_start(&sc, &svc), MV_OK);
    assert_non_null(svc.auth);
    assert_non_null(svc.metrics);
    assert_null(svc.revocations); /* hospital_url NULL: no poller */
    assert_int_equal((int)strlen(svc.metrics_token), 64);
    struct stat st;
    assert_int_equal(stat(tok, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    c.v = svc.auth;
    mv_http_config hc = {.listen = "127.0.0.1:0", .max_body = 1024, .handler = handler, .ctx = &c};
    assert_int_equal(mv_service_listen(&svc, &hc, "", port_file), MV_OK);
    assert_true(svc.port != 0);
    char want[16], got[16] = "";
    snprintf(want, sizeof want, "%u\n", (unsigned)svc.port);
    FILE *f = fopen(port_file, "r");
    assert_non_null(f);
    assert_non_null(fgets(got, sizeof got, f));
    fclose(f);
    assert_string_equal(got, want);
    call(svc.port, "/plain", 0, 201);
    call(svc.port, "/signed", 1, 201);
    call(svc.port, "/healthz", 0, 200);
    mv_service_stop_serving(&svc);
    assert_null(svc.http);
    assert_non_null(svc.auth); /* only the server went */
    mv_service_stop(&svc);
    assert_null(svc.auth);
    assert_null(svc.metrics);
    assert_int_equal(svc.metrics_token[0], 0);
    mv_service_stop(&svc); /* twice is harmless */
    mv_audit_close(a);
    mv_audit_report rep;
    assert_int_equal(mv_audit_verify_file(log_path(dir), g_pk, &rep), MV_OK);
    assert_int_equal(rep.entries, 4); /* start, 2 requests, stop: /healthz is not logged */

    /* A bad configuration starts nothing, and stopping the empty service is harmless. */
    sc.component = NULL;
    assert_int_equal(mv_service_start(&sc, &svc), MV_ERR_INVAL);
    assert_null(svc.auth);
    mv_service_stop(&svc);
    assert_int_equal(mv_service_start(NULL, &svc), MV_ERR_INVAL);
    assert_int_equal(mv_service_listen(&svc, &hc, NULL, NULL), MV_ERR_INVAL);
    mv_service_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_verify),
        cmocka_unit_test(test_edit_detected),
        cmocka_unit_test(test_delete_reorder_detected),
        cmocka_unit_test(test_forged_checkpoint),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_key_change_starts_new_log),
        cmocka_unit_test(test_concurrent_appends),
        cmocka_unit_test(test_read_pages_and_timer),
        cmocka_unit_test(test_key_load),
        cmocka_unit_test(test_stored_log_still_canonical),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_http_hook),
        cmocka_unit_test(test_service_scaffold),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
