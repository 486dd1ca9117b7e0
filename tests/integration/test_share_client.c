/* test_share_client.c - sharing through the client library against real daemons (`medvault
 * up`): grant and revoke of a record to a second doctor (the grantee reads it, then gets
 * MV_ERR_FORBIDDEN), who may share (owner or patient only), the owner cannot be revoked, an
 * episode share over records with no episode changes nothing, and puts naming an MRN the
 * hospital does not know (404) stay legacy, author-only records. Keysets (decision 0010): a
 * reader set's key costs one wrap per reader once, then no public-key operation per record in
 * this run or the next; keysets are not listed; a damaged cache costs a new keyset; sharing one
 * record adds an extra reader who reads that record only, and revoking it takes it back. Put
 * pipelines batches (one committed while the next is read) and still reports in order. Delegated patient records need
 * the hospital's patient registry and are exercised by test_share_e2e.sh. */
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medvault/mv_client.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"


static char g_dir[256], g_dep[400], g_admin[400], g_doc1[400], g_doc2[400];
static int g_up = -1;

static int setup(void **state)
{
    (void)state;
    const char *bin = getenv("MEDVAULT_BIN");
    char mvdir[300];
    assert_non_null(bin);
    assert_int_equal(mv_crypto_init(), MV_OK);
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(mvdir, sizeof mvdir, "%s/mv", g_dir);
    snprintf(g_dep, sizeof g_dep, "%s/deployment.json", mvdir);
    snprintf(g_admin, sizeof g_admin, "%s/admin", mvdir);
    snprintf(g_doc1, sizeof g_doc1, "%s/doc1", g_dir);
    snprintf(g_doc2, sizeof g_doc2, "%s/doc2", g_dir);
    g_up = tu_up_start(mvdir);
    const char *card[] = {"cardiology"};
    assert_int_equal(mv_client_user_add(g_dep, g_admin, "Doc One", "doctor", card, 1, g_doc1), MV_OK);
    assert_int_equal(mv_client_user_add(g_dep, g_admin, "Doc Two", "doctor", card, 1, g_doc2), MV_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int stopped = tu_up_stop(g_up);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 && stopped == 0 ? 0 : -1;
}

static mv_client *open_as(const char *user, const mv_client_options *o)
{
    mv_client *c = NULL;
    mv_client_options d = {.no_cache = 1, .threads = 2};
    assert_int_equal(mv_client_open(g_dep, user, o ? o : &d, &c), MV_OK);
    return c;
}

/* c's record listing (mv_client_list_json), parsed: the caller frees it. */
static mv_json *listing(mv_client *c)
{
    mv_buf b;
    mv_json *j = NULL;
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(mv_client_list_json(c, &b), MV_OK);
    assert_int_equal(mv_json_parse((const char *)b.ptr, b.len, NULL, &j, NULL), MV_OK);
    mv_buf_clear(&b);
    return j;
}

static void put_one(mv_client *c, const char *path, uint8_t id[16])
{
    mv_put_stats st;
    mv_err rc = mv_client_put(c, &path, 1, NULL, NULL, &st);
    if (rc != MV_OK)
        fail_msg("put failed: %s (%s)", mv_strerror(rc), mv_client_last_error(c));
    assert_int_equal(st.records, 1);
    /* The id: the newest record of this user in the listing. */
    mv_json *j = listing(c);
    const mv_json *recs = mv_json_get(j, "records");
    assert_true(mv_json_len(recs) > 0);
    const mv_json *last = mv_json_at(recs, mv_json_len(recs) - 1);
    assert_int_equal(mv_json_get_hex(last, "id", id, 16), MV_OK);
    assert_string_equal(mv_json_get_str(last, "patient", NULL), ""); /* legacy */
    assert_string_equal(mv_json_get_str(last, "episode", NULL), "");
    mv_json_free(j);
}

static void test_share_grant_revoke(void **state)
{
    (void)state;
    char f1[400], f2[400];
    snprintf(f1, sizeof f1, "%s/obs.json", g_dir);
    snprintf(f2, sizeof f2, "%s/note.txt", g_dir);
    /* Its subject is an MRN this hospital does not know (404): stored as a legacy record. */
    const char obs[] = "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"pulse\"},"
                       "\"subject\":{\"reference\":\"Patient/MRN-000042\"},\"valueQuantity\":{\"value\":71}}";
    const char note[] = "a short attachment\n";
    assert_int_equal(mv_file_write_atomic(f1, obs, sizeof obs - 1, 0600), MV_OK);
    assert_int_equal(mv_file_write_atomic(f2, note, sizeof note - 1, 0600), MV_OK);
    mv_client *d1 = open_as(g_doc1, NULL), *d2 = open_as(g_doc2, NULL);
    uint8_t id[16], id2[16];
    put_one(d1, f1, id);
    /* --patient with an unknown MRN: a legacy record too. */
    mv_client_options po = {.no_cache = 1, .threads = 2, .patient = "MRN-000042"};
    mv_client *d1p = open_as(g_doc1, &po);
    put_one(d1p, f2, id2);
    mv_client_close(d1p);

    mv_credential c1, c2;
    mv_client_whoami(d1, &c1, NULL);
    mv_client_whoami(d2, &c2, NULL);
    mv_buf out;
    mv_buf_init(&out, 1 << 20);
    assert_int_equal(mv_client_get(d2, id, &out, NULL, NULL, 0), MV_ERR_FORBIDDEN);
    /* Only the owner (or patient) shares; a stranger is refused. */
    assert_int_equal(mv_client_share(d2, id, c2.subject, 1), MV_ERR_FORBIDDEN);
    assert_int_equal(mv_client_share(d1, id, c2.subject, 1), MV_OK);
    mv_buf_reset(&out);
    assert_int_equal(mv_client_get(d2, id, &out, NULL, NULL, 0), MV_OK);
    int seen = 0;
    for (size_t i = 0; i + 5 <= out.len; i++)
        seen |= !memcmp(out.ptr + i, "pulse", 5);
    assert_true(seen);
    /* Granting again changes nothing; the grantee cannot pass it on. */
    assert_int_equal(mv_client_share(d1, id, c2.subject, 1), MV_OK);
    assert_int_equal(mv_client_share(d2, id, c1.subject, 0), MV_ERR_FORBIDDEN);
    /* The owner always keeps access. */
    assert_int_equal(mv_client_share(d1, id, c1.subject, 0), MV_ERR_FORBIDDEN);
    /* Revoke: the ACL drops the grantee at once. */
    assert_int_equal(mv_client_share(d1, id, c2.subject, 0), MV_OK);
    assert_int_equal(mv_client_get(d2, id, &out, NULL, NULL, 0), MV_ERR_FORBIDDEN);
    mv_buf_reset(&out);
    assert_int_equal(mv_client_get(d1, id, &out, NULL, NULL, 0), MV_OK);
    /* An unknown target user, an unknown record. */
    uint8_t nobody[32], absent[16];
    memset(nobody, 0x42, sizeof nobody);
    memset(absent, 0x17, sizeof absent);
    assert_int_equal(mv_client_share(d1, id, nobody, 1), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_client_share(d1, absent, c2.subject, 1), MV_ERR_NOT_FOUND);
    /* Episode shares only touch records of that episode: none here. */
    size_t changed = 99;
    assert_int_equal(mv_client_share_episode(d1, "00112233445566778899aabbccddeeff", c2.subject, 1, &changed), MV_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(mv_client_share_episode(d1, "zz", c2.subject, 1, &changed), MV_ERR_INVAL);
    /* Naming a patient the hospital does not know. */
    assert_int_equal(mv_client_grant_patient(d1, id2, "MRN-000042"), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_client_grant_patient(d1, id2, "bad/mrn"), MV_ERR_INVAL);
    mv_buf_clear(&out);
    mv_client_close(d1);
    mv_client_close(d2);
}

/* Number of records in c's listing (keysets are not listed). */
static size_t listed(mv_client *c)
{
    mv_json *j = listing(c);
    const mv_json *recs = mv_json_get(j, "records");
    size_t n = mv_json_len(recs);
    for (size_t i = 0; i < n; i++) {
        uint64_t blocks = 0;
        assert_int_equal(mv_json_get_u64(mv_json_at(recs, i), "blocks", &blocks), MV_OK);
        assert_true(blocks > 0);
    }
    mv_json_free(j);
    return n;
}

static mv_put_stats put_files(mv_client *c, const char *const *paths, size_t n)
{
    mv_put_stats st;
    mv_err rc = mv_client_put(c, paths, n, NULL, NULL, &st);
    if (rc != MV_OK)
        fail_msg("put failed: %s (%s)", mv_strerror(rc), mv_client_last_error(c));
    assert_int_equal(st.records, n);
    return st;
}

/* Issue 12 / decision 0010: a reader set's key is wrapped once; every further record in the
 * set costs no public-key operation, in this run and the next (the local keyset cache), and
 * 49 fixed bytes; keysets are not listed; a lost or damaged cache only costs a new keyset. */
static void test_keysets_per_reader_set(void **state)
{
    (void)state;
    char files[6][400], cache[420];
    const char *paths[6];
    for (int i = 0; i < 6; i++) {
        char body[200];
        int l = snprintf(body, sizeof body,
                         "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"pulse\"},"
                         "\"valueQuantity\":{\"value\":%d}}", 60 + i);
        snprintf(files[i], sizeof files[i], "%s/k%d.json", g_dir, i);
        assert_int_equal(mv_file_write_atomic(files[i], body, (size_t)l, 0600), MV_OK);
        paths[i] = files[i];
    }
    snprintf(cache, sizeof cache, "%s/keysets", g_doc2);
    mv_client *d2 = open_as(g_doc2, NULL);
    size_t before = listed(d2);
    /* The first record of the set makes its keyset: one wrap (one reader). */
    mv_put_stats st = put_files(d2, paths, 1);
    assert_int_equal(st.public_key_ops, 1);
    /* Five more in the same run: none. */
    st = put_files(d2, paths + 1, 5);
    assert_int_equal(st.public_key_ops, 0);
    /* Each envelope: the compressed record and 49 fixed bytes (an MVE1 with one reader
     * would add 112 + 5 - 21 = 96 more). */
    assert_true(st.envelope_bytes / 5 < 49 + 250);
    mv_client_close(d2);
    /* The next run reuses the cached keyset (checked against the stored one: no X25519). */
    d2 = open_as(g_doc2, NULL);
    st = put_files(d2, paths, 3);
    assert_int_equal(st.public_key_ops, 0);
    assert_int_equal(listed(d2), before + 9); /* the keyset is not listed */
    /* Every record reads back. */
    mv_buf out;
    mv_buf_init(&out, 1 << 20);
    uint8_t id[16];
    mv_json *j = listing(d2);
    const mv_json *recs = mv_json_get(j, "records");
    for (size_t i = before; i < mv_json_len(recs); i++) {
        assert_int_equal(mv_json_get_hex(mv_json_at(recs, i), "id", id, 16), MV_OK);
        mv_buf_reset(&out);
        assert_int_equal(mv_client_get(d2, id, &out, NULL, NULL, 0), MV_OK);
        assert_true(out.len > 0);
    }
    mv_json_free(j);
    mv_client_close(d2);
    /* A damaged cache file is an empty cache: a new keyset (one wrap), then reuse. */
    assert_int_equal(mv_file_write_atomic(cache, "MVKC\x01garbage", 12, 0600), MV_OK);
    d2 = open_as(g_doc2, NULL);
    st = put_files(d2, paths, 1);
    assert_int_equal(st.public_key_ops, 1);
    st = put_files(d2, paths, 1);
    assert_int_equal(st.public_key_ops, 0);
    /* One record shared with doc1 alone: an extra entry; doc1 reads it, not the others. */
    mv_client *d1 = open_as(g_doc1, NULL);
    mv_credential c1;
    mv_client_whoami(d1, &c1, NULL);
    uint8_t other[16];
    j = listing(d2);
    recs = mv_json_get(j, "records");
    assert_int_equal(mv_json_get_hex(mv_json_at(recs, mv_json_len(recs) - 1), "id", id, 16), MV_OK);
    assert_int_equal(mv_json_get_hex(mv_json_at(recs, mv_json_len(recs) - 2), "id", other, 16), MV_OK);
    mv_json_free(j);
    assert_int_equal(mv_client_share(d2, id, c1.subject, 1), MV_OK);
    mv_buf_reset(&out);
    assert_int_equal(mv_client_get(d1, id, &out, NULL, NULL, 0), MV_OK);
    assert_int_equal(mv_client_get(d1, other, &out, NULL, NULL, 0), MV_ERR_FORBIDDEN);
    assert_int_equal(mv_client_share(d2, id, c1.subject, 0), MV_OK);
    assert_int_equal(mv_client_get(d1, id, &out, NULL, NULL, 0), MV_ERR_FORBIDDEN);
    mv_buf_reset(&out);
    assert_int_equal(mv_client_get(d2, id, &out, NULL, NULL, 0), MV_OK);
    mv_client_close(d1);
    mv_client_close(d2);
    mv_buf_clear(&out);
}

struct seen {
    size_t n;
    char path[16][400]; /* copied: borrowed only during the callback */
    mv_err rc[16];
    uint8_t id[16][16];
};

static void on_put(void *ctx, const mv_put_result *r)
{
    struct seen *s = ctx;
    assert_true(s->n < 16);
    snprintf(s->path[s->n], sizeof s->path[s->n], "%s", r->path);
    s->rc[s->n] = r->rc;
    memcpy(s->id[s->n], r->id, 16);
    s->n++;
}

/* Issue 12, throughput: put commits one batch on a worker while it reads and compresses the
 * next. With batches of two blocks and 256-byte chunks, an attachment spans dozens of
 * batches and is in both threads' hands at once; a bad input in the middle fails alone, with
 * its own message. Every result arrives once, in input order, and every record reads back
 * byte for byte. */
static void test_put_pipelined_batches(void **state)
{
    (void)state;
    enum { N = 9, BAD = 2, ATT = 4 };
    char files[N][400];
    const char *paths[N];
    uint8_t att[20000];
    for (size_t i = 0; i < sizeof att; i++)
        att[i] = (uint8_t)((i * 2654435761u) >> 13);
    for (int i = 0; i < N; i++) {
        char body[200];
        int l = snprintf(body, sizeof body,
                         "{\"code\":{\"text\":\"pulse\"},\"resourceType\":\"Observation\",\"status\":\"final\","
                         "\"valueQuantity\":{\"value\":%d}}", 120 + i);
        snprintf(files[i], sizeof files[i], "%s/pipe%d.%s", g_dir, i, i == ATT ? "bin" : "json");
        if (i == BAD)
            assert_int_equal(mv_file_write_atomic(files[i], "{\"a\": nope}", 12, 0600), MV_OK);
        else if (i == ATT)
            assert_int_equal(mv_file_write_atomic(files[i], att, sizeof att, 0600), MV_OK);
        else
            assert_int_equal(mv_file_write_atomic(files[i], body, (size_t)l, 0600), MV_OK);
        paths[i] = files[i];
    }
    mv_client_options o = {.no_cache = 1, .threads = 2, .batch_blocks = 2, .cdc_min = 64, .cdc_avg = 256,
                           .cdc_max = 1024};
    mv_client *c = open_as(g_doc1, &o);
    struct seen seen = {0};
    mv_put_stats st;
    assert_int_not_equal(mv_client_put(c, paths, N, on_put, &seen, &st), MV_OK);
    assert_non_null(strstr(mv_client_last_error(c), "invalid JSON"));
    assert_int_equal(st.records, N - 1);
    assert_int_equal(st.failed, 1);
    assert_true(st.blocks > 40); /* the attachment's chunks, batches of two */
    assert_int_equal(seen.n, N);
    mv_buf out, want;
    mv_buf_init(&out, 1 << 20);
    mv_buf_init(&want, 1 << 20);
    for (int i = 0; i < N; i++) {
        assert_string_equal(seen.path[i], files[i]);
        if (i == BAD) {
            assert_int_not_equal(seen.rc[i], MV_OK);
            continue;
        }
        assert_int_equal(seen.rc[i], MV_OK);
        mv_buf_reset(&out);
        mv_buf_reset(&want);
        assert_int_equal(mv_client_get(c, seen.id[i], &out, NULL, NULL, 0), MV_OK);
        assert_int_equal(mv_file_read(files[i], 1 << 20, &want), MV_OK);
        assert_int_equal(out.len, want.len);
        assert_memory_equal(out.ptr, want.ptr, want.len);
    }
    mv_buf_clear(&out);
    mv_buf_clear(&want);
    mv_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_share_grant_revoke),
        cmocka_unit_test(test_keysets_per_reader_set),
        cmocka_unit_test(test_put_pipelined_batches),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
