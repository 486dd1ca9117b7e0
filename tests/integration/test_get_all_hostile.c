/* test_get_all_hostile.c - `medvault get --all` against records another doctor stored to
 * trouble a victim (issue 11, finding 11), through real daemons (`medvault up`): a record
 * naming the victim whose envelope is sealed only for its writer, one sealed for the victim
 * whose body was tampered with, and one whose envelope lies about its blocks' sizes (six real
 * 8 MiB blocks declared as 100 bytes each, so that one planned block request would come back
 * far over the client's answer cap). The victim's get --all restores every record of her own
 * (a prescription, an attachment, an envelope-only Patient resource and an empty file, which
 * now each carry a block) byte for byte, reports each hostile record as skipped with its
 * writer, and exits 0; the library reports each hostile record's own error and goes on. A
 * record of her own that cannot be read still makes it exit 1, and so does naming a hostile
 * record explicitly. On the code before this test, get --all exited 1 and the record answer
 * that came back too large stopped the whole run. */
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"
#include "net/frames.h"


static char g_dir[256], g_dep[400], g_admin[400], g_victim[400], g_mallory[400];
static int g_up = -1;
static mv_deployment g_d;

#define BIG_BLOCKS 6
#define BIG ((size_t)8 << 20)

static int setup(void **state)
{
    (void)state;
    const char *bin = getenv("MEDVAULT_BIN");
    char mvdir[300];
    assert_non_null(bin);
    assert_int_equal(mv_crypto_init(), MV_OK);
    assert_int_equal(mv_httpc_global_init(), MV_OK);
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(mvdir, sizeof mvdir, "%s/mv", g_dir);
    snprintf(g_dep, sizeof g_dep, "%s/deployment.json", mvdir);
    snprintf(g_admin, sizeof g_admin, "%s/admin", mvdir);
    snprintf(g_victim, sizeof g_victim, "%s/victim", g_dir);
    snprintf(g_mallory, sizeof g_mallory, "%s/mallory", g_dir);
    g_up = tu_up_start(mvdir);
    const char *card[] = {"cardiology"};
    assert_int_equal(mv_client_user_add(g_dep, g_admin, "Doc Victim", "doctor", card, 1, g_victim), MV_OK);
    assert_int_equal(mv_client_user_add(g_dep, g_admin, "Doc Mallory", "doctor", card, 1, g_mallory), MV_OK);
    assert_int_equal(mv_deployment_load(g_dep, &g_d), MV_OK);
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

/* ---------- raw requests, signed as a user (what a modified client can send) ---------- */

static long post_as(const mv_identity *u, const char *path, const mv_buf *body, mv_buf *out)
{
    char url[MV_DEPLOY_URL_MAX + 64];
    snprintf(url, sizeof url, "%s%s", g_d.storage_url, path);
    return tu_call("POST", url, body->ptr, body->len, u, mv_identity_credential(u), out);
}

/* Uploads n blocks of len random bytes as u; their tags into tags. */
static void upload(const mv_identity *u, size_t n, size_t len, uint8_t (*tags)[32])
{
    mv_frame_writer w;
    mv_buf f;
    uint8_t *c = mv_malloc(n * len), token[32];
    assert_non_null(c);
    mv_buf_init(&f, n * (len + 128) + 128);
    mv_frame_blocks_begin(&w, &f, "cardiology");
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(mv_random_bytes(c + i * len, len), MV_OK);
        assert_int_equal(mv_random_bytes(token, sizeof token), MV_OK);
        assert_int_equal(mv_sha256(tags[i], c + i * len, len), MV_OK);
        mv_frame_block b = {.kind = MV_FRAME_UPLOAD, .token = token, .tag = tags[i], .data = c + i * len, .len = len};
        mv_frame_blocks_add(&w, &b);
    }
    assert_int_equal(mv_frame_end(&w), MV_OK);
    assert_int_equal(post_as(u, "/v1/blocks", &f, NULL), 200);
    mv_free(c);
    mv_buf_clear(&f);
}

/* Stores one legacy record owned by u, naming reader (an Ed25519 key, may be NULL) in its
 * ACL, with tags and envelope as given. */
static void store(const mv_identity *u, const uint8_t id[16], const uint8_t *reader, const uint8_t *tags, size_t nt,
                  const mv_buf *env)
{
    mv_frame_writer w;
    mv_buf f, out;
    mv_json *j = NULL;
    mv_buf_init(&f, 4 << 20);
    mv_buf_init(&out, 1 << 16);
    mv_frame_record r = {.id = id, .dept = "cardiology", .dept_len = 10, .readers = reader, .n_readers = reader ? 1 : 0,
                         .tags = tags, .n_tags = nt, .envelope = env->ptr, .envelope_len = env->len};
    mv_frame_records_begin(&w, &f);
    mv_frame_records_add(&w, &r);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    assert_int_equal(post_as(u, "/v1/records", &f, &out), 200);
    assert_int_equal(mv_json_parse((const char *)out.ptr, out.len, NULL, &j, NULL), MV_OK);
    assert_string_equal(mv_json_get_str(mv_json_at(mv_json_get(j, "results"), 0), "status", NULL), "stored");
    mv_json_free(j);
    mv_buf_clear(&f);
    mv_buf_clear(&out);
}

/* An attachment record naming n tags (32 bytes each) with the given declared lengths, sealed for the
 * X25519 keys box[0..nb). */
static void seal(const uint8_t id[16], const uint8_t *tags, size_t n, uint64_t cipher_len,
                 const uint8_t *box, size_t nb, mv_buf *env)
{
    mv_record r;
    mv_record_init(&r);
    r.kind = MV_RECORD_ATTACHMENT;
    assert_int_equal(mv_record_set_name(&r, (const uint8_t *)"trouble.bin", 11), MV_OK);
    for (size_t i = 0; i < n; i++) {
        mv_block_ref ref;
        memset(&ref, 0, sizeof ref);
        memcpy(ref.tag, tags + 32 * i, 32);
        assert_int_equal(mv_random_bytes(ref.key, 32), MV_OK);
        ref.slot = (uint32_t)i;
        ref.plain_len = 10;
        ref.cipher_len = cipher_len;
        assert_int_equal(mv_record_add_block(&r, &ref), MV_OK);
    }
    assert_int_equal(mv_envelope_seal(id, &r, box, nb, env), MV_OK);
    mv_record_clear(&r);
}

/* ---------- running the CLI ---------- */

/* Runs `medvault get` for the victim (args appended), stderr into err; returns the exit code. */
static int cli_get(const char *args, mv_buf *err)
{
    char cmd[2048], errpath[400];
    snprintf(errpath, sizeof errpath, "%s/get.err", g_dir);
    snprintf(cmd, sizeof cmd, "'%s' get --deployment '%s' --user '%s' %s 2>'%s' >/dev/null", getenv("MEDVAULT_BIN"),
             g_dep, g_victim, args, errpath);
    int st = system(cmd);
    mv_buf_reset(err);
    assert_int_equal(mv_file_read(errpath, 1 << 20, err), MV_OK);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static size_t count_lines_with(const mv_buf *b, const char *what)
{
    size_t n = 0;
    const char *p = (const char *)b->ptr;
    while (p && (p = strstr(p, what)) != NULL) {
        n++;
        p += strlen(what);
    }
    return n;
}

static void same_file(const char *dir, const char *name, const void *want, size_t len)
{
    char path[600];
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (mv_file_read(path, 1 << 20, &b) != MV_OK)
        fail_msg("%s was not restored", name);
    assert_int_equal(b.len, len);
    if (len)
        assert_memory_equal(b.ptr, want, len);
    mv_buf_clear(&b);
}

struct outcome {
    size_t n;
    uint8_t ids[16][16];
    mv_err rc[16];
};

static void collect(void *ctx, const uint8_t *id, mv_err rc, int kind, const char *name, size_t name_len,
                    const uint8_t *data, size_t len)
{
    struct outcome *o = ctx;
    (void)kind, (void)name, (void)name_len, (void)data, (void)len;
    assert_true(o->n < 16);
    memcpy(o->ids[o->n], id, 16);
    o->rc[o->n++] = rc;
}

static mv_err outcome_of(const struct outcome *o, const uint8_t id[16])
{
    for (size_t i = 0; i < o->n; i++)
        if (!memcmp(o->ids[i], id, 16))
            return o->rc[i];
    fail_msg("record not reported");
    return MV_ERR_INVAL;
}

static void test_get_all_survives_hostile_records(void **state)
{
    (void)state;
    mv_identity *victim = NULL, *mallory = NULL;
    assert_int_equal(mv_identity_load(g_victim, &victim), MV_OK);
    assert_int_equal(mv_identity_load(g_mallory, &mallory), MV_OK);
    const uint8_t *victim_pk = mv_identity_sign_pk(victim);

    /* The victim's own records: a prescription, an attachment, a Patient (envelope only) and
     * an empty file. The Patient is written in canonical form and has no id (so no version is
     * stamped on it: docs/fhir.md), so it reads back identical. */
    static const char rx[] = "{\"medicationCodeableConcept\":{\"text\":\"Amlodipine 5 mg tablet\"},"
                             "\"resourceType\":\"MedicationRequest\",\"status\":\"active\"}";
    static const char patient[] = "{\"name\":[{\"family\":\"Testperson\"}],\"resourceType\":\"Patient\"}";
    static const char note[] = "an attachment of the victim's own\n";
    char paths[4][400], out[400];
    const char *names[4] = {"rx.json", "patient.json", "note.bin", "empty.bin"};
    const char *bodies[4] = {rx, patient, note, ""};
    size_t lens[4] = {sizeof rx - 1, sizeof patient - 1, sizeof note - 1, 0};
    const char *pp[4];
    for (int i = 0; i < 4; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", g_dir, names[i]);
        assert_int_equal(mv_file_write_atomic(paths[i], bodies[i], lens[i], 0600), MV_OK);
        pp[i] = paths[i];
    }
    mv_client *vc = NULL;
    mv_client_options o = {.no_cache = 1, .threads = 2};
    assert_int_equal(mv_client_open(g_dep, g_victim, &o, &vc), MV_OK);
    mv_put_stats ps;
    if (mv_client_put(vc, pp, 4, NULL, NULL, &ps) != MV_OK)
        fail_msg("put: %s", mv_client_last_error(vc));
    assert_int_equal(ps.records, 4);
    uint8_t victim_box[32];
    mv_credential vcred;
    mv_client_whoami(vc, &vcred, victim_box);

    /* Mallory's records naming the victim. */
    mv_client *mc = NULL;
    assert_int_equal(mv_client_open(g_dep, g_mallory, &o, &mc), MV_OK);
    uint8_t mallory_box[32], small[1][32], big[BIG_BLOCKS][32], both[64];
    mv_credential mcred;
    mv_client_whoami(mc, &mcred, mallory_box);
    memcpy(both, mallory_box, 32);
    memcpy(both + 32, victim_box, 32);
    upload(mallory, 1, 4000, small);
    upload(mallory, BIG_BLOCKS, BIG, big);
    uint8_t sealed_for_mallory[16], tampered[16], liar[16];
    assert_int_equal(mv_random_bytes(sealed_for_mallory, 16), MV_OK);
    assert_int_equal(mv_random_bytes(tampered, 16), MV_OK);
    assert_int_equal(mv_random_bytes(liar, 16), MV_OK);
    mv_buf env;
    mv_buf_init(&env, 1 << 20);
    /* 1: sealed for mallory alone: the victim's key has no wrap in it. */
    seal(sealed_for_mallory, small[0], 1, 4000, mallory_box, 1, &env);
    store(mallory, sealed_for_mallory, victim_pk, small[0], 1, &env);
    /* 2: sealed for both, then its body altered: well formed, but GCM fails for the victim. */
    mv_buf_reset(&env);
    seal(tampered, small[0], 1, 4000, both, 2, &env);
    env.ptr[env.len - 1] ^= 1;
    store(mallory, tampered, victim_pk, small[0], 1, &env);
    /* 3: sealed for the victim, naming six 8 MiB blocks it declares as 100 bytes each. */
    mv_buf_reset(&env);
    seal(liar, big[0], BIG_BLOCKS, 100, both, 2, &env);
    store(mallory, liar, victim_pk, &big[0][0], BIG_BLOCKS, &env);
    mv_client_close(mc);

    /* The library: every record is reported; the hostile ones with their own error. */
    mv_buf list;
    mv_json *j = NULL;
    mv_buf_init(&list, 1 << 20);
    assert_int_equal(mv_client_list_json(vc, &list), MV_OK);
    assert_int_equal(mv_json_parse((const char *)list.ptr, list.len, NULL, &j, NULL), MV_OK);
    const mv_json *recs = mv_json_get(j, "records");
    size_t n = mv_json_len(recs);
    assert_int_equal(n, 7);
    uint8_t ids[7][16];
    for (size_t i = 0; i < n; i++)
        assert_int_equal(mv_json_get_hex(mv_json_at(recs, i), "id", ids[i], 16), MV_OK);
    mv_json_free(j);
    struct outcome oc = {0};
    assert_int_equal(mv_client_get_many(vc, &ids[0][0], n, collect, &oc), MV_OK);
    assert_int_equal(oc.n, 7);
    assert_int_equal(outcome_of(&oc, sealed_for_mallory), MV_ERR_FORBIDDEN);
    assert_int_equal(outcome_of(&oc, tampered), MV_ERR_VERIFY);
    assert_int_equal(outcome_of(&oc, liar), MV_ERR_VERIFY);
    size_t ok = 0;
    for (size_t i = 0; i < oc.n; i++)
        ok += oc.rc[i] == MV_OK;
    assert_int_equal(ok, 4);

    /* The CLI: everything of hers restored, each hostile record skipped with its writer, 0. */
    mv_buf err;
    char args[600], mhex[65];
    mv_buf_init(&err, 1 << 20);
    assert_int_equal(mv_hex_encode(mhex, sizeof mhex, mcred.subject, 32), MV_OK);
    snprintf(out, sizeof out, "%s/restore", g_dir);
    snprintf(args, sizeof args, "--all -o '%s'", out);
    int st = cli_get(args, &err);
    if (st != 0)
        fail_msg("get --all exited %d: %s", st, (const char *)err.ptr);
    for (int i = 0; i < 4; i++)
        same_file(out, names[i], bodies[i], lens[i]);
    assert_int_equal(count_lines_with(&err, "skipped, cannot be read"), 3);
    assert_int_equal(count_lines_with(&err, mhex), 3);
    assert_non_null(strstr((const char *)err.ptr, "3 records written by others could not be read and were skipped"));

    /* Naming a hostile record explicitly is an error. */
    char hex[33];
    assert_int_equal(mv_hex_encode(hex, sizeof hex, tampered, 16), MV_OK);
    snprintf(args, sizeof args, "%s -o '%s/one'", hex, g_dir);
    assert_int_equal(cli_get(args, &err), 1);

    /* A record of her own that she cannot read is an error too: exit 1, the rest restored. */
    uint8_t own[16], own_tag[1][32];
    assert_int_equal(mv_random_bytes(own, 16), MV_OK);
    upload(victim, 1, 3000, own_tag);
    mv_buf_reset(&env);
    seal(own, own_tag[0], 1, 3000, mallory_box, 1, &env);
    store(victim, own, NULL, own_tag[0], 1, &env);
    snprintf(out, sizeof out, "%s/restore2", g_dir);
    snprintf(args, sizeof args, "--all -o '%s'", out);
    assert_int_equal(cli_get(args, &err), 1);
    assert_int_equal(mv_hex_encode(hex, sizeof hex, own, 16), MV_OK);
    assert_non_null(strstr((const char *)err.ptr, hex));
    for (int i = 0; i < 4; i++)
        same_file(out, names[i], bodies[i], lens[i]);

    mv_buf_clear(&err);
    mv_buf_clear(&env);
    mv_buf_clear(&list);
    mv_client_close(vc);
    mv_identity_free(victim);
    mv_identity_free(mallory);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_all_survives_hostile_records),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
