/* test_findex.c - the user's local FHIR index (src/client/findex.c, docs/fhir.md "The local
 * index"): entries survive a reopen; the latest version is chosen as documented and a tombstone
 * hands "latest" back to the previous version; a torn last entry is cut off; a damaged or
 * foreign file is set aside and a new one started; the content digest ignores only
 * meta.versionId/lastUpdated; patient references resolve through a Patient's MRN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/client_internal.h"
#include "client/findex.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"
#include "testutil.h"

/* A client with only what the index uses: its user directory and keys. */
static mv_client *client_in(const char *dir)
{
    mv_client *c = mv_calloc(1, sizeof *c);
    assert_non_null(c);
    mkdir(dir, 0700);
    if (mv_identity_load(dir, &c->id) != MV_OK)
        assert_int_equal(mv_identity_create(dir, &c->id), MV_OK);
    snprintf(c->user_dir, sizeof c->user_dir, "%s", dir);
    return c;
}

static void client_free(mv_client *c)
{
    mvc_findex_close(c->findex);
    mv_identity_free(c->id);
    mv_free(c);
}

static void facts(mv_fhir_facts *f, const char *type, const char *id, const char *patient)
{
    memset(f, 0, sizeof *f);
    snprintf(f->type, sizeof f->type, "%s", type);
    snprintf(f->id, sizeof f->id, "%s", id);
    snprintf(f->patient, sizeof f->patient, "%s", patient);
}

static void add(mvc_findex *x, uint8_t rid0, uint64_t created, const mv_fhir_facts *f, uint32_t version,
                const char *mrn)
{
    uint8_t digest[32];
    memset(digest, version, sizeof digest);
    fx_add a = {.kind = MV_RECORD_FHIR, .created = created, .version = version, .digest = digest, .facts = f, .mrn = mrn};
    memset(a.rid, 0, 16);
    a.rid[15] = rid0;
    assert_int_equal(mvc_findex_add(x, &a, 1), MV_OK);
}

static int count(void *ctx, const mv_fhir_entry *e)
{
    (void)e;
    (*(size_t *)ctx)++;
    return 0;
}

static void test_versions_reopen_tombstone(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/u1", tu_tmpdir());
    mv_client *c = client_in(dir);
    mvc_findex *x = NULL;
    assert_int_equal(mvc_findex_get(c, &x), MV_OK);
    mv_fhir_facts f, p;
    facts(&f, "Observation", "o1", "Patient/p1");
    facts(&p, "Patient", "p1", "Patient/p1");
    add(x, 1, 100, &f, 1, NULL);
    add(x, 2, 200, &f, 2, NULL);
    add(x, 3, 50, &p, 1, "MRN-7");
    assert_int_equal(mvc_findex_latest(x, "Observation", "o1")->version, 2);
    assert_string_equal(mvc_findex_mrn_of(x, "Patient/p1"), "MRN-7");
    assert_string_equal(mvc_findex_mrn_of(x, "urn:uuid:p1"), "MRN-7");
    assert_string_equal(mvc_findex_mrn_of(x, "Patient/MRN-55"), "MRN-55");
    assert_null(mvc_findex_mrn_of(x, "Patient/nobody"));
    client_free(c);

    /* Reopened from the file: the same. */
    c = client_in(dir);
    assert_int_equal(mvc_findex_get(c, &x), MV_OK);
    const struct fx_ent *e = mvc_findex_latest(x, "Observation", "o1");
    assert_non_null(e);
    assert_int_equal(e->version, 2);
    assert_int_equal(e->rid[15], 2);
    mv_fhir_entry v;
    assert_int_equal(mv_client_fhir_lookup(c, "Observation", "o1", 1, &v), MV_OK);
    assert_int_equal(v.record_id[15], 1);
    assert_false(v.latest);
    assert_int_equal(mv_client_fhir_lookup(c, "Observation", "o1", 3, &v), MV_ERR_NOT_FOUND);
    mv_fhir_query q = {.patient = "MRN-7"};
    size_t n = 0, total = 0;
    assert_int_equal(mv_client_index_find(c, &q, count, &n, &total), MV_OK);
    assert_int_equal(total, 2); /* the latest Observation and the Patient */
    q.all_versions = 1;
    assert_int_equal(mv_client_index_find(c, &q, count, &n, &total), MV_OK);
    assert_int_equal(total, 3);

    /* Version 2's record is gone: version 1 is the latest again, after a reopen too. */
    uint8_t rid[16] = {0};
    rid[15] = 2;
    assert_int_equal(mvc_findex_drop(x, rid, 1), MV_OK);
    assert_int_equal(mvc_findex_latest(x, "Observation", "o1")->version, 1);
    client_free(c);
    c = client_in(dir);
    assert_int_equal(mvc_findex_get(c, &x), MV_OK);
    assert_int_equal(mvc_findex_latest(x, "Observation", "o1")->version, 1);
    assert_null(mvc_findex_by_rid(x, rid, 0));
    client_free(c);
}

static void test_torn_damaged_foreign(void **state)
{
    (void)state;
    char dir[512], path[600], aside[620];
    snprintf(dir, sizeof dir, "%s/u2", tu_tmpdir());
    snprintf(path, sizeof path, "%s/fhir-index", dir);
    snprintf(aside, sizeof aside, "%s/fhir-index.damaged", dir);
    mv_client *c = client_in(dir);
    mvc_findex *x = NULL;
    assert_int_equal(mvc_findex_get(c, &x), MV_OK);
    mv_fhir_facts f;
    facts(&f, "Condition", "c1", "");
    add(x, 1, 1, &f, 1, NULL);
    add(x, 2, 2, &f, 2, NULL);
    client_free(c);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    off_t whole = sb.st_size;

    /* A crash in the middle of an append: the torn entry is cut off, the others stay. */
    FILE *fp = fopen(path, "ab");
    assert_non_null(fp);
    fwrite("\x00\x00\x01\x00" "0123456789ab" "partial", 1, 23, fp);
    fclose(fp);
    c = client_in(dir);
    assert_int_equal(mvc_findex_get(c, &x), MV_OK);
    assert_int_equal(mvc_findex_latest(x, "Condition", "c1")->version, 2);
    client_free(c);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, whole);

    /* One bit flipped in the first entry: set aside, a new empty index. */
    fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 40, SEEK_SET);
    int ch = fgetc(fp);
    fseek(fp, 40, SEEK_SET);
    fputc(ch ^ 1, fp);
    fclose(fp);
    c = client_in(dir);
    assert_int_equal(mvc_findex_get(c, &x), MV_OK);
    assert_null(mvc_findex_latest(x, "Condition", "c1"));
    assert_true(mv_file_exists(aside));
    add(x, 3, 3, &f, 1, NULL);
    client_free(c);

    /* Another user's key cannot open it: set aside too. */
    char other[512];
    snprintf(other, sizeof other, "%s/u3", tu_tmpdir());
    mv_client *o = client_in(other);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/fhir-index'", path, other);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(mvc_findex_get(o, &x), MV_OK);
    assert_null(mvc_findex_latest(x, "Condition", "c1"));
    client_free(o);
    c = client_in(dir);
    assert_int_equal(mvc_findex_get(c, &x), MV_OK);
    assert_non_null(mvc_findex_latest(x, "Condition", "c1"));
    client_free(c);
}

/* Two processes of one user append in turn (two handles on one file): each takes the other's
 * entries before writing its own, so the file stays whole and both see everything. */
static void test_two_writers(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/u5", tu_tmpdir());
    mv_client *a = client_in(dir), *b = client_in(dir);
    mvc_findex *xa = NULL, *xb = NULL;
    assert_int_equal(mvc_findex_get(a, &xa), MV_OK);
    assert_int_equal(mvc_findex_get(b, &xb), MV_OK);
    mv_fhir_facts f;
    facts(&f, "Encounter", "e1", "");
    add(xa, 1, 1, &f, 1, NULL);
    add(xb, 2, 2, &f, 2, NULL); /* b takes a's entry first */
    assert_int_equal(mvc_findex_latest(xb, "Encounter", "e1")->version, 2);
    add(xa, 3, 3, &f, 3, NULL);
    assert_int_equal(mvc_findex_latest(xa, "Encounter", "e1")->version, 3);
    client_free(a);
    client_free(b);
    char aside[600];
    snprintf(aside, sizeof aside, "%s/fhir-index.damaged", dir);
    mv_client *c = client_in(dir);
    mvc_findex *x = NULL;
    assert_int_equal(mvc_findex_get(c, &x), MV_OK);
    assert_false(mv_file_exists(aside));
    assert_int_equal(mvc_findex_latest(x, "Encounter", "e1")->version, 3);
    uint8_t rid[16] = {0};
    rid[15] = 2;
    assert_non_null(mvc_findex_by_rid(x, rid, 0));
    client_free(c);
}

/* A name longer than a field's room, not UTF-8, or with control characters is stored cut and
 * cleaned, and the index still opens (it was set aside on every open before). */
static void test_unclean_names(void **state)
{
    (void)state;
    char dir[512], name[400], aside[600];
    snprintf(dir, sizeof dir, "%s/u6", tu_tmpdir());
    snprintf(aside, sizeof aside, "%s/fhir-index.damaged", dir);
    memset(name, 'n', 300);
    memcpy(name, "r\xe9sum\xe9\x1b[31m\xc2\x9b" "1m\x7f", 17);
    name[300] = 0;
    mv_client *c = client_in(dir);
    mvc_findex *x = NULL;
    assert_int_equal(mvc_findex_get(c, &x), MV_OK);
    fx_add a = {.kind = MV_RECORD_ATTACHMENT, .created = 5, .name = name};
    memset(a.rid, 7, 16);
    assert_int_equal(mvc_findex_add(x, &a, 1), MV_OK);
    client_free(c);
    c = client_in(dir);
    assert_int_equal(mvc_findex_get(c, &x), MV_OK);
    assert_false(mv_file_exists(aside));
    const struct fx_ent *e = mvc_findex_by_rid(x, a.rid, 0);
    assert_non_null(e);
    assert_true(strlen(e->s[FS_NAME]) < MV_FHIR_FACT_MAX);
    assert_memory_equal(e->s[FS_NAME], "r?sum? [31m 1m ", 15); /* C1 CSI (U+009B) and DEL too */
    client_free(c);
}

static void test_digest(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/u4", tu_tmpdir());
    mv_client *c = client_in(dir);
    mvc_findex *x = NULL;
    assert_int_equal(mvc_findex_get(c, &x), MV_OK);
    static const char *const texts[] = {
        "{\"resourceType\":\"X\",\"id\":\"a\",\"v\":1}",
        "{\"id\":\"a\",\"resourceType\":\"X\",\"v\":1,\"meta\":{\"versionId\":\"4\",\"lastUpdated\":\"t\"}}",
        "{\"resourceType\":\"X\",\"id\":\"a\",\"v\":1.0}",
        "{\"resourceType\":\"X\",\"id\":\"a\",\"v\":1,\"meta\":{\"tag\":[]}}",
    };
    uint8_t d[4][32];
    mv_fhir_profiles *prof = NULL;
    assert_int_equal(mv_fhir_profiles_default(&prof), MV_OK);
    for (size_t i = 0; i < 4; i++) {
        mv_json *doc = NULL;
        assert_int_equal(mv_json_parse(texts[i], strlen(texts[i]), NULL, &doc, NULL), MV_OK);
        assert_int_equal(mvc_findex_digest(x, prof, doc, d[i]), MV_OK);
        mv_json_free(doc);
    }
    assert_memory_equal(d[0], d[1], 32);     /* only versionId/lastUpdated differ */
    assert_memory_not_equal(d[0], d[2], 32); /* 1 and 1.0 are different FHIR values */
    assert_memory_not_equal(d[0], d[3], 32); /* any other meta member is content */
    mv_fhir_profiles_free(prof);
    client_free(c);
}

int main(void)
{
    assert_int_equal(mv_crypto_init(), MV_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions_reopen_tombstone),
        cmocka_unit_test(test_torn_damaged_foreign),
        cmocka_unit_test(test_two_writers),
        cmocka_unit_test(test_unclean_names),
        cmocka_unit_test(test_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
