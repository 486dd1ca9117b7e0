/* test_registry.c - the hospital registry (src/hospital/registry.c) on a real SQLite file:
 * migrations apply once and re-opening is idempotent, a database from a newer medvault is
 * refused, legacy users/<key>.json files are imported once, MRNs are random with a Luhn check
 * digit (and the sequential ones of older registries stay readable), kiosk self-registrations are
 * capped per source address and in all and expire after a day (issue 11), status changes bump
 * the revocation serial (and revoked is final), appointment transitions and who may make
 * them, every rule a delegation must pass before the hospital countersigns it, and (issue 5)
 * alert aggregation and exactly-once delivery marks, device keys, step-up nonces and requests,
 * and migration 0002 keeping existing alerts; role names and the role enum map both ways. */
#include "testutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hospital/migrations.h"
#include "hospital/registry.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_delegation.h"
#include "medvault/mv_file.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_mem.h"

static char g_dir[256];

static void fresh_dir(void)
{
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
}

static int64_t sql_count(const char *sql)
{
    char path[300];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(path, sizeof path, "%s/registry.db", g_dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static uint64_t max_version(void)
{
    uint64_t v = 0;
    for (size_t i = 0; i < mv_migrations_count; i++)
        if (registry_migration_version(mv_migrations[i].name) > v)
            v = registry_migration_version(mv_migrations[i].name);
    return v;
}

static void key(uint8_t pk[32], uint8_t seed)
{
    for (int i = 0; i < 32; i++)
        pk[i] = (uint8_t)(seed * 31 + i);
}

static mv_err add(registry *r, const char *name, const char *role, const char *dept, uint8_t seed, registry_user *out)
{
    registry_new_user nu;
    const char *d[1] = {dept};
    memset(&nu, 0, sizeof nu);
    nu.name = name;
    nu.role = role;
    nu.departments = d;
    nu.n_departments = dept ? 1 : 0;
    key(nu.sign_pk, seed);
    key(nu.box_pk, (uint8_t)(seed + 100));
    nu.status = "active";
    return registry_user_add(r, &nu, 1000, 1000, 1000 + 3600, out, NULL);
}

static void test_migrations_apply_once(void **state)
{
    (void)state;
    registry *r = NULL;
    fresh_dir();
    assert_true(mv_migrations_count >= 1);
    assert_int_equal(registry_migration_version("0001_registry.sql"), 1);
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    assert_int_equal(registry_schema_version(r), max_version());
    registry_close(r);
    char path[300];
    struct stat sb;
    snprintf(path, sizeof path, "%s/registry.db", g_dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM schema_migrations"), (int64_t)mv_migrations_count);
    /* Re-open: nothing applied twice, the seeded revocation row is untouched. */
    r = NULL;
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    assert_int_equal(registry_schema_version(r), max_version());
    registry_close(r);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM schema_migrations"), (int64_t)mv_migrations_count);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM revocation_state"), 1);
    assert_int_equal(sql_count("SELECT serial FROM revocation_state"), 1);
    assert_int_equal(sql_count("PRAGMA foreign_keys"), 0); /* per connection: the check's own is off */
    assert_int_equal(sql_count("SELECT COUNT(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
}

static void test_newer_database_refused(void **state)
{
    (void)state;
    registry *r = NULL;
    char path[300];
    sqlite3 *db = NULL;
    fresh_dir();
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    registry_close(r);
    snprintf(path, sizeof path, "%s/registry.db", g_dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    r = (registry *)1;
    assert_int_equal(registry_open(g_dir, &r), MV_ERR_BAD_STATE);
    assert_null(r);
}

static void write_legacy(const char *name, const char *role, const char *depts, uint8_t seed, const char *status)
{
    char udir[300], path[400], hex[65], bhex[65], text[1024];
    uint8_t pk[32], bk[32];
    key(pk, seed);
    key(bk, (uint8_t)(seed + 100));
    assert_int_equal(mv_hex_encode(hex, sizeof hex, pk, 32), MV_OK);
    assert_int_equal(mv_hex_encode(bhex, sizeof bhex, bk, 32), MV_OK);
    snprintf(udir, sizeof udir, "%s/users", g_dir);
    assert_int_equal(mv_file_mkdir(udir, 0700), MV_OK);
    snprintf(path, sizeof path, "%s/%s.json", udir, hex);
    int n = snprintf(text, sizeof text,
                     "{\"name\":\"%s\",\"role\":\"%s\",\"departments\":[%s],\"sign_public_key\":\"%s\","
                     "\"box_public_key\":\"%s\",\"status\":\"%s\",\"registered_at\":1234}",
                     name, role, depts, hex, bhex, status);
    assert_int_equal(mv_file_write_atomic(path, text, (size_t)n, 0600), MV_OK);
}

static void test_legacy_import(void **state)
{
    (void)state;
    registry *r = NULL;
    registry_user u;
    uint8_t pk[32];
    char path[400];
    fresh_dir();
    write_legacy("dr-a", "doctor", "\"cardiology\",\"oncology\"", 1, "active");
    write_legacy("pat-b", "patient", "", 2, "active");
    write_legacy("adm-c", "admin", "", 3, "suspended");
    write_legacy("bad", "wizard", "", 4, "active"); /* invalid role: skipped */
    snprintf(path, sizeof path, "%s/users/garbage.json", g_dir);
    assert_int_equal(mv_file_write_atomic(path, "{", 1, 0600), MV_OK);
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    key(pk, 1);
    assert_int_equal(registry_user_get(r, pk, &u), MV_OK);
    assert_string_equal(u.name, "dr-a");
    assert_int_equal(u.role, REGISTRY_ROLE_DOCTOR);
    assert_int_equal(u.n_departments, 2);
    assert_string_equal(u.departments[0], "cardiology");
    assert_int_equal(u.registered_at, 1234);
    key(pk, 2);
    assert_int_equal(registry_user_get(r, pk, &u), MV_OK);
    assert_true(registry_mrn_check_ok(u.mrn));
    key(pk, 3);
    assert_int_equal(registry_user_get(r, pk, &u), MV_OK);
    assert_string_equal(u.status, "suspended");
    key(pk, 4);
    assert_int_equal(registry_user_get(r, pk, &u), MV_ERR_NOT_FOUND);
    registry_close(r);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM users"), 3);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM departments"), 2);
    /* The files stay; a file added later is not imported on re-open (import happens once). */
    write_legacy("late", "doctor", "\"cardiology\"", 5, "active");
    r = NULL;
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    key(pk, 5);
    assert_int_equal(registry_user_get(r, pk, &u), MV_ERR_NOT_FOUND);
    registry_close(r);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM users"), 3);
}

/* 1 if a and b are "MRN-" + digits whose numbers differ by exactly one. */
static int mrn_adjacent(const char *a, const char *b)
{
    unsigned long long x = strtoull(a + 4, NULL, 10), y = strtoull(b + 4, NULL, 10);
    return x == y + 1 || y == x + 1;
}

static void test_users_and_random_mrns(void **state)
{
    (void)state;
    registry *r = NULL;
    registry_user u;
    char mrns[3][16];
    fresh_dir();
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    assert_int_equal(add(r, "admin", "admin", NULL, 1, &u), MV_OK);
    assert_string_equal(u.mrn, "");
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        assert_int_equal(add(r, name, "patient", NULL, (uint8_t)(10 + i), &u), MV_OK);
        assert_int_equal(strlen(u.mrn), 14);
        assert_true(registry_mrn_check_ok(u.mrn));
        assert_string_equal(u.status, "active");
        memcpy(mrns[i], u.mrn, 16);
    }
    /* Issue 11, finding 10: an MRN does not tell how many came before it. */
    assert_false(mrn_adjacent(mrns[0], mrns[1]));
    assert_false(mrn_adjacent(mrns[1], mrns[2]));
    assert_string_not_equal(mrns[0], mrns[2]);
    assert_int_equal(registry_user_find(r, mrns[1], &u), MV_OK);
    assert_string_equal(u.name, "p1");
    assert_int_equal(registry_user_find(r, "MRN-000009", &u), MV_ERR_NOT_FOUND);
    assert_int_equal(registry_user_find(r, "nonsense", &u), MV_ERR_INVAL);
    /* Same key twice; doctor without department; bad role, name, department. */
    assert_int_equal(add(r, "again", "patient", NULL, 10, &u), MV_ERR_EXISTS);
    assert_int_equal(add(r, "dr", "doctor", NULL, 20, &u), MV_ERR_INVAL);
    assert_int_equal(add(r, "x", "wizard", NULL, 21, &u), MV_ERR_INVAL);
    assert_int_equal(add(r, "", "patient", NULL, 22, &u), MV_ERR_INVAL);
    assert_int_equal(add(r, "a\nb", "patient", NULL, 23, &u), MV_ERR_INVAL);
    assert_int_equal(add(r, "dr", "doctor", "card/iology", 24, &u), MV_ERR_INVAL);
    assert_int_equal(add(r, "dr", "doctor", "cardiology", 25, &u), MV_OK);
    assert_int_equal(u.n_departments, 1);
    /* Nothing half-written by the refused ones: 1 admin + 3 patients + 1 doctor. */
    registry_close(r);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM users"), 5);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM credentials WHERE reason = 'register'"), 5);
    assert_int_equal(sql_count("SELECT COUNT(DISTINCT mrn) FROM users WHERE role = 'patient'"), 3);
    /* A patient of an older registry keeps the sequential MRN it was given, found as before,
     * and the next patient still gets a random one. */
    char path[300];
    sqlite3 *db = NULL;
    snprintf(path, sizeof path, "%s/registry.db", g_dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO users (sign_pk, box_pk, name, role, status, mrn, registered_at, "
                                  "status_changed_at) VALUES (printf('%064d', 7), printf('%064d', 8), 'old', "
                                  "'patient', 'active', 'MRN-000001', 1, 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    r = NULL;
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    assert_int_equal(registry_user_find(r, "MRN-000001", &u), MV_OK);
    assert_string_equal(u.name, "old");
    assert_int_equal(add(r, "p3", "patient", NULL, 30, &u), MV_OK);
    assert_true(registry_mrn_check_ok(u.mrn));
    registry_close(r);
}

/* The check digit: a known vector, every single-digit change and every swap of two different
 * neighbours is caught, and the old sequential form is not mistaken for the new one. */
static void test_mrn_check_digit(void **state)
{
    (void)state;
    char m[16];
    assert_true(registry_mrn_check_ok("MRN-1234567897")); /* Luhn: 1234567897 sums to 50 */
    assert_true(registry_mrn_check_ok("MRN-7992739875"));
    assert_true(registry_mrn_check_ok("MRN-0000000000"));
    assert_false(registry_mrn_check_ok("MRN-1234567890"));
    assert_false(registry_mrn_check_ok("MRN-000001"));
    assert_false(registry_mrn_check_ok("MRN-123456789"));
    assert_false(registry_mrn_check_ok("MRN-12345678970"));
    assert_false(registry_mrn_check_ok("MRN-12345a7897"));
    assert_false(registry_mrn_check_ok("mrn-1234567897"));
    assert_false(registry_mrn_check_ok(NULL));
    for (int pos = 4; pos < 14; pos++)
        for (char d = '0'; d <= '9'; d++) {
            snprintf(m, sizeof m, "MRN-1234567897");
            if (m[pos] == d)
                continue;
            m[pos] = d;
            assert_false(registry_mrn_check_ok(m));
        }
    for (int pos = 4; pos < 13; pos++) {
        snprintf(m, sizeof m, "MRN-1234567897");
        char t = m[pos];
        m[pos] = m[pos + 1];
        m[pos + 1] = t;
        assert_false(registry_mrn_check_ok(m)); /* no 0<->9 neighbours in this vector */
    }
}

/* A kiosk self-registration from source at now; seed names its key. */
static mv_err self_register(registry *r, const char *source, uint16_t seed, uint64_t now, registry_user *out,
                            const char **why)
{
    registry_new_user nu;
    memset(&nu, 0, sizeof nu);
    nu.name = "kiosk";
    nu.role = "patient";
    nu.status = "pending";
    nu.source = source;
    memset(nu.sign_pk, 0xa5, 32);
    nu.sign_pk[0] = (uint8_t)(seed >> 8);
    nu.sign_pk[1] = (uint8_t)seed;
    memset(nu.box_pk, 0x5a, 32);
    return registry_user_add(r, &nu, now, 0, 0, out, why);
}

/* Issue 11, finding 10: pending self-registrations are capped per source address and in all,
 * expire after REGISTRY_PENDING_SECONDS, and keep their source only while pending. */
static void test_self_registration_limits(void **state)
{
    (void)state;
    registry *r = NULL;
    registry_user u;
    const char *why = NULL;
    const uint64_t t0 = 1800000000;
    uint16_t seed = 1;
    fresh_dir();
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    /* One address: REGISTRY_MAX_PENDING_PER_SOURCE, then 429's error; another address goes on. */
    for (int i = 0; i < REGISTRY_MAX_PENDING_PER_SOURCE; i++)
        assert_int_equal(self_register(r, "10.0.0.1", seed++, t0 + (uint64_t)i, &u, &why), MV_OK);
    assert_string_equal(u.status, "pending");
    assert_true(registry_mrn_check_ok(u.mrn));
    why = NULL;
    assert_int_equal(self_register(r, "10.0.0.1", seed++, t0 + 100, &u, &why), MV_ERR_RATE_LIMITED);
    assert_non_null(why);
    assert_int_equal(self_register(r, "10.0.0.2", seed++, t0 + 100, &u, &why), MV_OK);
    /* The admin activates one of the first address's: its address is forgotten, and that
     * address may register one more. */
    uint8_t first[32];
    memset(first, 0xa5, 32);
    first[0] = 0;
    first[1] = 1;
    assert_int_equal(registry_user_set_status(r, first, "active", t0 + 200, &u, &why), MV_OK);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM users WHERE status <> 'pending' AND registered_from IS NOT NULL"),
                     0);
    assert_int_equal(self_register(r, "10.0.0.1", seed++, t0 + 300, &u, &why), MV_OK);
    assert_int_equal(self_register(r, "10.0.0.1", seed++, t0 + 300, &u, &why), MV_ERR_RATE_LIMITED);
    /* A source must come with status pending, and be short. */
    registry_new_user nu;
    memset(&nu, 0, sizeof nu);
    nu.name = "x";
    nu.role = "patient";
    nu.status = "active";
    nu.source = "10.0.0.9";
    assert_int_equal(registry_user_add(r, &nu, t0, 0, 0, NULL, &why), MV_ERR_INVAL);
    nu.status = "pending";
    nu.source = "0123456789012345678901234567890123456789012345678901234567890123";
    assert_int_equal(registry_user_add(r, &nu, t0, 0, 0, NULL, &why), MV_ERR_INVAL);
    /* In all: fill up to REGISTRY_MAX_PENDING (written directly, in one transaction), then a
     * fresh address is refused with MV_ERR_BUSY. */
    int64_t have = sql_count("SELECT COUNT(*) FROM users WHERE status = 'pending'");
    assert_int_equal(have, REGISTRY_MAX_PENDING_PER_SOURCE + 1);
    char path[300], sql[512];
    sqlite3 *db = NULL;
    snprintf(path, sizeof path, "%s/registry.db", g_dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    for (int64_t i = have; i < REGISTRY_MAX_PENDING; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO users (sign_pk, box_pk, name, role, status, registered_at, status_changed_at, "
                 "registered_from) VALUES (printf('%%064d', %lld), printf('%%064d', 0), 'flood', 'patient', "
                 "'pending', %llu, %llu, '10.1.%lld.%lld')",
                 (long long)i, (unsigned long long)(t0 + 400), (unsigned long long)(t0 + 400), (long long)(i / 40),
                 (long long)(i % 40));
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    why = NULL;
    assert_int_equal(self_register(r, "10.0.0.3", seed++, t0 + 500, &u, &why), MV_ERR_BUSY);
    assert_non_null(why);
    /* Nothing expires before REGISTRY_PENDING_SECONDS... */
    assert_int_equal(self_register(r, "10.0.0.3", seed++, t0 + REGISTRY_PENDING_SECONDS - 1, &u, &why), MV_ERR_BUSY);
    /* ...then the first address's registrations (made at t0 .. t0 + 49 and t0 + 300) lapse:
     * the cap frees itself, and a lapsed key may register again. */
    assert_int_equal(self_register(r, "10.0.0.1", 2, t0 + 300 + REGISTRY_PENDING_SECONDS, &u, &why), MV_OK);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM users WHERE registered_from = '10.0.0.1'"), 1);
    /* The activated one stays; the flood (made at t0 + 400) is still pending. */
    assert_int_equal(registry_user_get(r, first, &u), MV_OK);
    assert_string_equal(u.status, "active");
    assert_int_equal(sql_count("SELECT COUNT(*) FROM users WHERE name = 'flood'"), REGISTRY_MAX_PENDING - have);
    registry_close(r);
}

/* Issue 14: a second doctor or admin of the same name was accepted silently. Staff names are
 * unique among users that are not revoked; patients may share a name; a registry that already
 * holds duplicates (from before the check, here through the legacy import) still opens and
 * keeps them. */
static void test_staff_names_unique(void **state)
{
    (void)state;
    registry *r = NULL;
    registry_user u, first;
    const char *why = NULL;
    registry_new_user nu;
    const char *d[1] = {"cardiology"};
    fresh_dir();
    write_legacy("dr-old", "doctor", "\"cardiology\"", 1, "active");
    write_legacy("dr-old", "doctor", "\"cardiology\"", 2, "active");
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM users WHERE name = 'dr-old'"), 2);

    assert_int_equal(add(r, "dr-a", "doctor", "cardiology", 10, &first), MV_OK);
    memset(&nu, 0, sizeof nu);
    nu.name = "dr-a";
    nu.role = "doctor";
    nu.departments = d;
    nu.n_departments = 1;
    key(nu.sign_pk, 11);
    key(nu.box_pk, 111);
    assert_int_equal(registry_user_add(r, &nu, 1000, 1000, 1000 + 3600, &u, &why), MV_ERR_EXISTS);
    assert_non_null(why);
    assert_non_null(strstr(why, "already registered"));
    assert_int_equal(add(r, "dr-a", "admin", NULL, 12, &u), MV_ERR_EXISTS);
    assert_int_equal(add(r, "dr-old", "doctor", "cardiology", 13, &u), MV_ERR_EXISTS);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM users WHERE name = 'dr-a'"), 1);
    /* Names differ by case: two names. Patients may share one, also a doctor's. */
    assert_int_equal(add(r, "DR-A", "doctor", "cardiology", 14, &u), MV_OK);
    assert_int_equal(add(r, "pat", "patient", NULL, 15, &u), MV_OK);
    assert_int_equal(add(r, "pat", "patient", NULL, 16, &u), MV_OK);
    assert_int_equal(add(r, "dr-a", "patient", NULL, 17, &u), MV_OK);
    /* A revoked doctor's name is free for the registration of a new key. */
    assert_int_equal(registry_user_set_status(r, first.sign_pk, "revoked", 2000, &u, &why), MV_OK);
    assert_int_equal(add(r, "dr-a", "doctor", "cardiology", 18, &u), MV_OK);
    registry_close(r);
}

static void test_status_and_revocations(void **state)
{
    (void)state;
    registry *r = NULL;
    registry_user u, d;
    uint8_t *keys = NULL;
    size_t n = 0;
    uint64_t serial = 0;
    const char *why = NULL;
    fresh_dir();
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    assert_int_equal(add(r, "dr", "doctor", "cardiology", 1, &d), MV_OK);
    assert_int_equal(add(r, "p", "patient", NULL, 2, &u), MV_OK);
    assert_int_equal(registry_revocations(r, &keys, &n, &serial), MV_OK);
    assert_int_equal(n, 0);
    assert_int_equal(serial, 1);
    assert_int_equal(registry_user_set_status(r, d.sign_pk, "suspended", 10, &d, &why), MV_OK);
    assert_string_equal(d.status, "suspended");
    assert_int_equal(registry_revocations(r, &keys, &n, &serial), MV_OK);
    assert_int_equal(n, 1);
    assert_int_equal(serial, 2);
    assert_memory_equal(keys, d.sign_pk, 32);
    mv_free(keys);
    /* Same status: no change, no bump. */
    assert_int_equal(registry_user_set_status(r, d.sign_pk, "suspended", 11, &d, &why), MV_OK);
    assert_int_equal(registry_revocations(r, &keys, &n, &serial), MV_OK);
    assert_int_equal(serial, 2);
    mv_free(keys);
    assert_int_equal(registry_user_set_status(r, d.sign_pk, "active", 12, &d, &why), MV_OK);
    assert_int_equal(registry_user_set_status(r, u.sign_pk, "revoked", 13, &u, &why), MV_OK);
    assert_int_equal(registry_revocations(r, &keys, &n, &serial), MV_OK);
    assert_int_equal(n, 1);
    assert_int_equal(serial, 4);
    assert_memory_equal(keys, u.sign_pk, 32);
    mv_free(keys);
    /* Revoked is final; pending cannot come back; unknown user; bad status. */
    assert_int_equal(registry_user_set_status(r, u.sign_pk, "active", 14, &u, &why), MV_ERR_BAD_STATE);
    assert_int_equal(registry_user_set_status(r, d.sign_pk, "pending", 14, &d, &why), MV_ERR_BAD_STATE);
    uint8_t nobody[32] = {9};
    assert_int_equal(registry_user_set_status(r, nobody, "active", 14, &d, &why), MV_ERR_NOT_FOUND);
    assert_int_equal(registry_user_set_status(r, d.sign_pk, "asleep", 14, &d, &why), MV_ERR_INVAL);
    assert_int_equal(registry_revocations(r, &keys, &n, &serial), MV_OK);
    assert_int_equal(serial, 4);
    mv_free(keys);
    registry_close(r);
}

static void test_appointment_transitions(void **state)
{
    (void)state;
    static const char *const st[] = {"requested", "booked", "checked_in", "completed", "cancelled"};
    /* allowed[from][to] */
    static const int allowed[5][5] = {
        {0, 1, 0, 0, 1}, {0, 0, 1, 0, 1}, {0, 0, 0, 1, 1}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0},
    };
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            assert_int_equal(registry_appt_transition_ok(st[i], st[j]), allowed[i][j]);
    assert_int_equal(registry_appt_transition_ok("requested", "done"), 0);

    registry *r = NULL;
    registry_user adm, doc, doc2, pat, pat2;
    const char *why = NULL;
    char id[33];
    mv_buf b;
    fresh_dir();
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    assert_int_equal(add(r, "adm", "admin", NULL, 1, &adm), MV_OK);
    assert_int_equal(add(r, "doc", "doctor", "cardiology", 2, &doc), MV_OK);
    assert_int_equal(add(r, "doc2", "doctor", "oncology", 3, &doc2), MV_OK);
    assert_int_equal(add(r, "pat", "patient", NULL, 4, &pat), MV_OK);
    assert_int_equal(add(r, "pat2", "patient", NULL, 5, &pat2), MV_OK);

    registry_appt_change c;
    memset(&c, 0, sizeof c);
    c.department = "cardiology";
    c.reason = "chest pain";
    /* A patient requests for themself only, and cannot book. */
    assert_int_equal(registry_appt_create(r, &pat, &pat2, &c, 100, id, &why), MV_ERR_FORBIDDEN);
    c.place = "room 1";
    assert_int_equal(registry_appt_create(r, &pat, &pat, &c, 100, id, &why), MV_ERR_FORBIDDEN);
    c.place = NULL;
    assert_int_equal(registry_appt_create(r, &doc, &pat, &c, 100, id, &why), MV_ERR_FORBIDDEN);
    c.department = "nowhere";
    assert_int_equal(registry_appt_create(r, &pat, &pat, &c, 100, id, &why), MV_ERR_INVAL);
    c.department = "cardiology";
    assert_int_equal(registry_appt_create(r, &pat, &pat, &c, 100, id, &why), MV_OK);
    assert_int_equal(strlen(id), 32);

    /* Admin: a doctor outside the department is refused; booking needs all four. */
    registry_appt_change u;
    memset(&u, 0, sizeof u);
    u.doctor = doc2.sign_pk;
    assert_int_equal(registry_appt_update(r, &adm, id, &u, 101, &why), MV_ERR_INVAL);
    u.doctor = doc.sign_pk;
    u.status = "booked";
    assert_int_equal(registry_appt_update(r, &adm, id, &u, 101, &why), MV_ERR_BAD_STATE);
    u.status = NULL;
    assert_int_equal(registry_appt_update(r, &adm, id, &u, 101, &why), MV_OK);
    memset(&u, 0, sizeof u);
    u.status = "checked_in";
    assert_int_equal(registry_appt_update(r, &adm, id, &u, 102, &why), MV_ERR_BAD_STATE); /* still requested */
    memset(&u, 0, sizeof u);
    u.set_starts_at = 1;
    u.starts_at = 5000;
    u.place = "room 7";
    assert_int_equal(registry_appt_update(r, &adm, id, &u, 103, &why), MV_OK); /* becomes booked */
    mv_buf_init(&b, 1 << 16);
    assert_int_equal(registry_appt_json(r, &pat, id, &b), MV_OK);
    assert_non_null(strstr((const char *)b.ptr, "\"status\":\"booked\""));
    mv_buf_reset(&b);
    assert_int_equal(registry_appt_json(r, &pat2, id, &b), MV_ERR_NOT_FOUND); /* not theirs */
    assert_int_equal(registry_appt_json(r, &doc2, id, &b), MV_ERR_NOT_FOUND); /* other department */
    assert_int_equal(registry_appt_json(r, &doc, id, &b), MV_OK);

    /* Who may move it: the patient cannot check in, another doctor cannot, the doctor can. */
    memset(&u, 0, sizeof u);
    u.status = "checked_in";
    assert_int_equal(registry_appt_update(r, &pat, id, &u, 104, &why), MV_ERR_FORBIDDEN);
    assert_int_equal(registry_appt_update(r, &doc2, id, &u, 104, &why), MV_ERR_NOT_FOUND);
    assert_int_equal(registry_appt_update(r, &doc, id, &u, 104, &why), MV_OK);
    u.status = "booked";
    assert_int_equal(registry_appt_update(r, &adm, id, &u, 105, &why), MV_ERR_BAD_STATE); /* backwards */
    u.status = "completed";
    assert_int_equal(registry_appt_update(r, &doc, id, &u, 106, &why), MV_OK);
    u.status = "cancelled";
    assert_int_equal(registry_appt_update(r, &pat, id, &u, 107, &why), MV_ERR_BAD_STATE);
    memset(&u, 0, sizeof u);
    u.place = "room 9";
    assert_int_equal(registry_appt_update(r, &adm, id, &u, 108, &why), MV_ERR_BAD_STATE); /* completed: frozen */
    registry_close(r);
    /* create + doctor + booked + checked_in + completed */
    assert_int_equal(sql_count("SELECT COUNT(*) FROM appointment_events"), 5);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM appointments WHERE status = 'completed'"), 1);
    mv_buf_clear(&b);
}

/* ---------- delegations ---------- */

typedef struct person {
    mv_identity *id;
    registry_user u;
} person;

static person make_person(registry *r, const char *name, const char *role, const char *dept)
{
    char d[400];
    person p;
    registry_new_user nu;
    const char *depts[1] = {dept};
    snprintf(d, sizeof d, "%s/id-%s", g_dir, name);
    assert_int_equal(mv_identity_create(d, &p.id), MV_OK);
    memset(&nu, 0, sizeof nu);
    nu.name = name;
    nu.role = role;
    nu.departments = depts;
    nu.n_departments = dept ? 1 : 0;
    memcpy(nu.sign_pk, mv_identity_sign_pk(p.id), 32);
    memcpy(nu.box_pk, mv_identity_box_pk(p.id), 32);
    nu.status = "active";
    assert_int_equal(registry_user_add(r, &nu, 10, 0, 0, &p.u, NULL), MV_OK);
    return p;
}

static char *book(registry *r, const person *adm, const person *pat, const person *doc, const char *dept)
{
    static char id[33];
    registry_appt_change c;
    memset(&c, 0, sizeof c);
    c.department = dept;
    c.doctor = doc->u.sign_pk;
    c.set_starts_at = 1;
    c.starts_at = 1000;
    c.place = "room 2";
    assert_int_equal(registry_appt_create(r, &adm->u, &pat->u, &c, 100, id, NULL), MV_OK);
    return id;
}

static mv_delegation signed_by(const person *pat, const person *doc, const char *appt_hex, const char *dept,
                               uint64_t issued, uint64_t expires)
{
    mv_delegation d;
    memset(&d, 0, sizeof d);
    memcpy(d.patient, mv_identity_sign_pk(pat->id), 32);
    memcpy(d.doctor, mv_identity_sign_pk(doc->id), 32);
    assert_int_equal(mv_hex_decode_exact(d.appointment, 16, appt_hex, 32), MV_OK);
    d.issued_at = issued;
    d.expires_at = expires;
    snprintf(d.department, sizeof d.department, "%s", dept);
    assert_int_equal(mv_delegation_sign(&d, mv_identity_sign_sk(pat->id)), MV_OK);
    return d;
}

static void test_delegation_rules(void **state)
{
    (void)state;
    registry *r = NULL;
    mv_identity *hosp = NULL;
    char hd[300], a1[33], a2[33], a3[33];
    int64_t did = 0;
    const char *why = NULL;
    uint64_t now = (uint64_t)time(NULL);
    assert_int_equal(mv_crypto_init(), MV_OK);
    fresh_dir();
    snprintf(hd, sizeof hd, "%s/hosp", g_dir);
    assert_int_equal(mv_identity_create(hd, &hosp), MV_OK);
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    const uint8_t *hpk = mv_identity_sign_pk(hosp), *hsk = mv_identity_sign_sk(hosp);
    person adm = make_person(r, "adm", "admin", NULL);
    person doc = make_person(r, "doc", "doctor", "cardiology");
    person doc2 = make_person(r, "doc2", "doctor", "cardiology");
    person pat = make_person(r, "pat", "patient", NULL);
    person pat2 = make_person(r, "pat2", "patient", NULL);
    snprintf(a1, sizeof a1, "%s", book(r, &adm, &pat, &doc, "cardiology"));
    snprintf(a2, sizeof a2, "%s", book(r, &adm, &pat2, &doc, "cardiology"));
    snprintf(a3, sizeof a3, "%s", book(r, &adm, &pat, &doc, "cardiology"));

    /* Accepted: countersigned so that it verifies under the hospital key alone. */
    mv_delegation d = signed_by(&pat, &doc, a1, "cardiology", now, now + 7 * 86400);
    assert_int_equal(registry_delegation_add(r, &pat.u, &d, hpk, hsk, now, &did, &why), MV_OK);
    assert_true(did > 0);
    assert_int_equal(mv_delegation_verify(&d, hpk, now), MV_OK);

    /* Another doctor named. */
    d = signed_by(&pat, &doc2, a1, "cardiology", now, now + 86400);
    assert_int_equal(registry_delegation_add(r, &pat.u, &d, hpk, hsk, now, &did, &why), MV_ERR_FORBIDDEN);
    /* Another patient's appointment. */
    d = signed_by(&pat, &doc, a2, "cardiology", now, now + 86400);
    assert_int_equal(registry_delegation_add(r, &pat.u, &d, hpk, hsk, now, &did, &why), MV_ERR_FORBIDDEN);
    /* Submitted by someone who is not the delegation's patient. */
    d = signed_by(&pat, &doc, a1, "cardiology", now, now + 86400);
    assert_int_equal(registry_delegation_add(r, &pat2.u, &d, hpk, hsk, now, &did, &why), MV_ERR_FORBIDDEN);
    assert_int_equal(registry_delegation_add(r, &doc.u, &d, hpk, hsk, now, &did, &why), MV_ERR_FORBIDDEN);
    /* Wrong department, too long, expired, unknown appointment. */
    d = signed_by(&pat, &doc, a1, "oncology", now, now + 86400);
    assert_int_equal(registry_delegation_add(r, &pat.u, &d, hpk, hsk, now, &did, &why), MV_ERR_INVAL);
    d = signed_by(&pat, &doc, a1, "cardiology", now, now + 91 * 86400);
    assert_int_equal(registry_delegation_add(r, &pat.u, &d, hpk, hsk, now, &did, &why), MV_ERR_INVAL);
    d = signed_by(&pat, &doc, a1, "cardiology", now - 7200, now - 3600);
    assert_int_equal(registry_delegation_add(r, &pat.u, &d, hpk, hsk, now, &did, &why), MV_ERR_INVAL);
    d = signed_by(&pat, &doc, "00000000000000000000000000000000", "cardiology", now, now + 86400);
    assert_int_equal(registry_delegation_add(r, &pat.u, &d, hpk, hsk, now, &did, &why), MV_ERR_NOT_FOUND);
    /* A tampered patient signature. */
    d = signed_by(&pat, &doc, a1, "cardiology", now, now + 86400);
    d.patient_sig[0] ^= 1;
    assert_int_equal(registry_delegation_add(r, &pat.u, &d, hpk, hsk, now, &did, &why), MV_ERR_INVAL);
    /* A cancelled appointment. */
    registry_appt_change c;
    memset(&c, 0, sizeof c);
    c.status = "cancelled";
    assert_int_equal(registry_appt_update(r, &pat.u, a3, &c, now, &why), MV_OK);
    d = signed_by(&pat, &doc, a3, "cardiology", now, now + 86400);
    assert_int_equal(registry_delegation_add(r, &pat.u, &d, hpk, hsk, now, &did, &why), MV_ERR_BAD_STATE);
    /* The designated doctor suspended. */
    registry_user tmp;
    assert_int_equal(registry_user_set_status(r, doc.u.sign_pk, "suspended", now, &tmp, &why), MV_OK);
    d = signed_by(&pat, &doc, a1, "cardiology", now, now + 86400);
    assert_int_equal(registry_delegation_add(r, &pat.u, &d, hpk, hsk, now, &did, &why), MV_ERR_FORBIDDEN);
    assert_int_equal(registry_user_set_status(r, doc.u.sign_pk, "active", now, &tmp, &why), MV_OK);

    /* Patient lookup: the delegation goes to the doctor it names only; revoking hides it. */
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    assert_int_equal(registry_patient_json(r, &doc.u, pat.u.mrn, now, &b), MV_OK);
    assert_null(strstr((const char *)b.ptr, "\"delegation\":null"));
    mv_buf_reset(&b);
    assert_int_equal(registry_patient_json(r, &doc2.u, pat.u.mrn, now, &b), MV_OK);
    assert_non_null(strstr((const char *)b.ptr, "\"delegation\":null"));
    mv_buf_reset(&b);
    assert_int_equal(registry_patient_json(r, &doc.u, "MRN-999999", now, &b), MV_ERR_NOT_FOUND);
    assert_int_equal(registry_delegation_revoke(r, &doc.u, 1, now, &why), MV_ERR_FORBIDDEN);
    assert_int_equal(registry_delegation_revoke(r, &pat2.u, 1, now, &why), MV_ERR_FORBIDDEN);
    assert_int_equal(registry_delegation_revoke(r, &pat.u, 99, now, &why), MV_ERR_NOT_FOUND);
    assert_int_equal(registry_delegation_revoke(r, &pat.u, 1, now, &why), MV_OK);
    mv_buf_reset(&b);
    assert_int_equal(registry_patient_json(r, &doc.u, pat.u.mrn, now, &b), MV_OK);
    assert_non_null(strstr((const char *)b.ptr, "\"delegation\":null"));
    mv_buf_clear(&b);
    registry_close(r);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM delegations"), 1);
    mv_identity_free(hosp);
    person *all[] = {&adm, &doc, &doc2, &pat, &pat2};
    for (size_t i = 0; i < 5; i++)
        mv_identity_free(all[i]->id);
}

/* ---- issue 5: alert aggregation, devices, nonces, step-up requests ---- */

static registry_alert mk_alert(const char *kind, const char *principal, const char *address, const char *reason)
{
    registry_alert a;
    memset(&a, 0, sizeof a);
    a.at = 5000;
    snprintf(a.source, sizeof a.source, "storage");
    snprintf(a.kind, sizeof a.kind, "%s", kind);
    snprintf(a.principal, sizeof a.principal, "%s", principal);
    snprintf(a.address, sizeof a.address, "%s", address);
    snprintf(a.object, sizeof a.object, "rec1");
    snprintf(a.reason, sizeof a.reason, "%s", reason);
    return a;
}

static void test_alert_aggregation(void **state)
{
    (void)state;
    registry *r = NULL;
    registry_alert a = mk_alert("decoy_served", "", "10.0.0.1", "unauthenticated"), rows[8];
    int64_t id1 = 0, id = 0;
    int created = 0;
    size_t n = 0;
    fresh_dir();
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    assert_int_equal(registry_alert_record(r, &a, 1, 5000, 600, &id1, &created), MV_OK);
    assert_int_equal(created, 1);
    /* Same key within the window: counted, not a new row (and not redelivered). */
    assert_int_equal(registry_alert_record(r, &a, 4, 5599, 600, &id, &created), MV_OK);
    assert_int_equal(created, 0);
    assert_int_equal(id, id1);
    assert_int_equal(sql_count("SELECT count FROM alerts"), 5);
    assert_int_equal(sql_count("SELECT last_at FROM alerts"), 5599);
    /* The window runs from the last event: 5599 + 600 is outside, so a new row. */
    assert_int_equal(registry_alert_record(r, &a, 1, 6199, 600, &id, &created), MV_OK);
    assert_int_equal(created, 1);
    assert_true(id != id1);
    /* Any field of the key differing: a new row. */
    registry_alert b = mk_alert("decoy_served", "", "10.0.0.2", "unauthenticated");
    assert_int_equal(registry_alert_record(r, &b, 1, 6200, 600, &id, &created), MV_OK);
    assert_int_equal(created, 1);
    b = mk_alert("decoy_served", "", "10.0.0.1", "forged credential");
    assert_int_equal(registry_alert_record(r, &b, 1, 6200, 600, &id, &created), MV_OK);
    assert_int_equal(created, 1);
    b = mk_alert("honeytoken", "", "10.0.0.1", "unauthenticated");
    assert_int_equal(registry_alert_record(r, &b, 1, 6200, 600, &id, &created), MV_OK);
    assert_int_equal(created, 1);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM alerts"), 5);
    /* Bad input changes nothing. */
    assert_int_equal(registry_alert_record(r, &a, 0, 6200, 600, &id, &created), MV_ERR_INVAL);
    b = mk_alert("decoy_served", "", "10.0.0.1", "line\nbreak");
    assert_int_equal(registry_alert_record(r, &b, 1, 6200, 600, &id, &created), MV_ERR_INVAL);
    b = mk_alert("", "", "10.0.0.1", "x");
    assert_int_equal(registry_alert_record(r, &b, 1, 6200, 600, &id, &created), MV_ERR_INVAL);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM alerts"), 5);
    /* Delivery: oldest first, each exactly once. */
    assert_int_equal(registry_alerts_undelivered(r, rows, 8, &n), MV_OK);
    assert_int_equal(n, 5);
    assert_int_equal(rows[0].id, id1);
    assert_int_equal(rows[0].count, 5);
    assert_string_equal(rows[0].reason, "unauthenticated");
    assert_int_equal(registry_alert_delivered(r, id1, 7000), MV_OK);
    assert_int_equal(registry_alert_delivered(r, id1, 7001), MV_ERR_NOT_FOUND);
    assert_int_equal(registry_alerts_undelivered(r, rows, 2, &n), MV_OK);
    assert_int_equal(n, 2);
    assert_true(rows[0].id != id1);
    /* A repeat of a delivered row within its window still only counts. */
    assert_int_equal(registry_alert_record(r, &a, 1, 5700, 600, &id, &created), MV_OK);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM alerts WHERE delivered_at IS NULL"), 4);
    mv_buf js;
    mv_buf_init(&js, 1 << 16);
    assert_int_equal(registry_alerts_json(r, 10, &js), MV_OK);
    assert_int_equal(mv_buf_reserve(&js, 1), MV_OK);
    js.ptr[js.len] = 0;
    assert_non_null(strstr((const char *)js.ptr, "\"delivered\":true"));
    assert_non_null(strstr((const char *)js.ptr, "\"delivered_at\":null"));
    mv_buf_clear(&js);
    registry_close(r);
}

static void test_devices_nonces_stepup(void **state)
{
    (void)state;
    registry *r = NULL;
    registry_user u, adm;
    registry_stepup s;
    uint8_t dev[32], dev2[32], nonce[16], pk[32];
    const char *why = NULL;
    int64_t id = 0, id2 = 0;
    fresh_dir();
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    assert_int_equal(add(r, "doc", "doctor", "cardio", 1, &u), MV_OK);
    assert_int_equal(add(r, "adm", "admin", NULL, 2, &adm), MV_OK);
    key(dev, 50);
    key(dev2, 51);
    assert_int_equal(registry_device_add(r, u.sign_pk, dev, "phone", 100, &why), MV_OK);
    assert_int_equal(registry_device_add(r, adm.sign_pk, dev, "again", 100, &why), MV_ERR_EXISTS);
    key(pk, 99);
    assert_int_equal(registry_device_add(r, pk, dev2, NULL, 100, &why), MV_ERR_NOT_FOUND);
    assert_int_equal(registry_device_add(r, u.sign_pk, dev2, "bad\x01name", 100, &why), MV_ERR_INVAL);
    assert_int_equal(registry_device_check(r, u.id, dev), MV_OK);
    assert_int_equal(registry_device_check(r, adm.id, dev), MV_ERR_NOT_FOUND);
    assert_int_equal(registry_device_check(r, u.id, dev2), MV_ERR_NOT_FOUND);
    for (int i = 0; i < REGISTRY_MAX_DEVICES - 1; i++) {
        key(pk, (uint8_t)(120 + i));
        assert_int_equal(registry_device_add(r, u.sign_pk, pk, NULL, 100, &why), MV_OK);
    }
    assert_int_equal(registry_device_add(r, u.sign_pk, dev2, NULL, 100, &why), MV_ERR_RATE_LIMITED);
    /* Nonces: spent once; reusable only after expiry. */
    memset(nonce, 7, sizeof nonce);
    assert_int_equal(registry_stepup_nonce_use(r, dev, nonce, 1000, 400), MV_OK);
    assert_int_equal(registry_stepup_nonce_use(r, dev, nonce, 1000, 999), MV_ERR_REPLAY);
    assert_int_equal(registry_stepup_nonce_use(r, dev2, nonce, 1000, 999), MV_OK); /* per device */
    assert_int_equal(registry_stepup_nonce_use(r, dev, nonce, 2000, 1000), MV_OK);  /* expired, purged */
    /* Requests: one pending per user, decided once. */
    assert_int_equal(registry_stepup_request(r, u.id, 100, &id, &why), MV_OK);
    assert_int_equal(registry_stepup_request(r, u.id, 101, &id2, &why), MV_OK);
    assert_int_equal(id, id2);
    assert_int_equal(registry_stepup_get(r, id, &s), MV_OK);
    assert_string_equal(s.status, "pending");
    assert_memory_equal(s.user_pk, u.sign_pk, 32);
    assert_int_equal(registry_stepup_decide(r, id, adm.id, "R1JBTlQ=", 200, &why), MV_OK);
    assert_int_equal(registry_stepup_decide(r, id, adm.id, NULL, 201, &why), MV_ERR_BAD_STATE);
    assert_int_equal(registry_stepup_get(r, id, &s), MV_OK);
    assert_string_equal(s.status, "approved");
    assert_string_equal(s.grant_b64, "R1JBTlQ=");
    assert_int_equal(registry_stepup_request(r, u.id, 300, &id2, &why), MV_OK);
    assert_true(id2 != id);
    assert_int_equal(registry_stepup_decide(r, id2, adm.id, NULL, 301, &why), MV_OK);
    assert_int_equal(registry_stepup_get(r, id2, &s), MV_OK);
    assert_string_equal(s.status, "denied");
    assert_string_equal(s.grant_b64, "");
    assert_int_equal(registry_stepup_get(r, 999, &s), MV_ERR_NOT_FOUND);
    assert_int_equal(registry_stepup_decide(r, 999, adm.id, NULL, 301, &why), MV_ERR_NOT_FOUND);
    registry_close(r);
}

/* A registry at schema 1 with an alert: 0002 keeps the row (count 1, last_at = at, undelivered). */
static void test_migration_0002_keeps_alerts(void **state)
{
    (void)state;
    char path[300];
    sqlite3 *db = NULL;
    registry *r = NULL;
    fresh_dir();
    snprintf(path, sizeof path, "%s/registry.db", g_dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, "
                                      "applied_at INTEGER)", NULL, NULL, NULL), SQLITE_OK);
    assert_true(mv_migrations_count >= 2);
    assert_int_equal(sqlite3_exec(db, mv_migrations[0].sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (1, '0001_registry.sql', 1);"
                                      "INSERT INTO alerts (at, source, kind, reason) VALUES (4242, 'decoy', "
                                      "'decoy_served', 'old')", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    registry_close(r);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM alerts WHERE count = 1 AND last_at = 4242 AND "
                               "delivered_at IS NULL AND reason = 'old'"), 1);
}

/* Migration 0003 on a registry made by 0001 and 0002: users keep their sequential MRNs, found as
 * before; a registration left pending by the old code (no source address) counts in all and
 * lapses like any other. */
static void test_migration_0003_keeps_users(void **state)
{
    (void)state;
    char path[300];
    sqlite3 *db = NULL;
    registry *r = NULL;
    registry_user u;
    const char *why = NULL;
    const uint64_t t0 = 1800000000;
    fresh_dir();
    snprintf(path, sizeof path, "%s/registry.db", g_dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, "
                                      "applied_at INTEGER)", NULL, NULL, NULL), SQLITE_OK);
    assert_true(mv_migrations_count >= 3);
    for (int i = 0; i < 2; i++)
        assert_int_equal(sqlite3_exec(db, mv_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO schema_migrations VALUES (1, '0001_registry.sql', 1), "
                                  "(2, '0002_alerts_stepup.sql', 1);"
                                  "INSERT INTO users (sign_pk, box_pk, name, role, status, mrn, registered_at, "
                                  "status_changed_at) VALUES (printf('%064d', 1), printf('%064d', 1), 'kept', "
                                  "'patient', 'active', 'MRN-000001', 5, 5), (printf('%064d', 2), printf('%064d', 2), "
                                  "'waiting', 'patient', 'pending', 'MRN-000002', 1800000000, 1800000000)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    assert_int_equal(registry_schema_version(r), max_version());
    assert_int_equal(registry_user_find(r, "MRN-000001", &u), MV_OK);
    assert_string_equal(u.name, "kept");
    assert_int_equal(registry_user_find(r, "MRN-000002", &u), MV_OK);
    assert_string_equal(u.status, "pending");
    assert_int_equal(self_register(r, "10.0.0.1", 1, t0 + 10, &u, &why), MV_OK);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM users WHERE status = 'pending'"), 2);
    assert_int_equal(self_register(r, "10.0.0.1", 2, t0 + REGISTRY_PENDING_SECONDS, &u, &why), MV_OK);
    assert_int_equal(registry_user_find(r, "MRN-000002", &u), MV_ERR_NOT_FOUND);
    assert_int_equal(registry_user_find(r, "MRN-000001", &u), MV_OK);
    registry_close(r);
}

/* The departments list is written through the listing API and the JSON writer: the exact
 * bytes the JSON API has always answered (keys in this order, counts per role, escaping). */
static void test_departments_json_bytes(void **state)
{
    (void)state;
    registry *r = NULL;
    registry_user u;
    mv_buf js;
    int created = 0;
    fresh_dir();
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    assert_int_equal(add(r, "dr", "doctor", "cardiology", 1, &u), MV_OK);
    assert_int_equal(add(r, "p", "patient", "cardiology", 2, &u), MV_OK);
    assert_int_equal(add(r, "q", "patient", "cardiology", 3, &u), MV_OK);
    assert_int_equal(registry_department_put(r, "cardiology", "Heart \"care\" <b>", 1000, &created, NULL), MV_OK);
    assert_int_equal(registry_department_put(r, "atrium", "", 1000, &created, NULL), MV_OK);
    mv_buf_init(&js, 1 << 16);
    assert_int_equal(registry_departments_json(r, &js), MV_OK);
    const char want[] = "{\"departments\":[{\"name\":\"atrium\",\"description\":\"\",\"doctors\":0,\"patients\":0},"
                        "{\"name\":\"cardiology\",\"description\":\"Heart \\\"care\\\" <b>\",\"doctors\":1,"
                        "\"patients\":2}]}";
    assert_int_equal(js.len, strlen(want));
    assert_memory_equal(js.ptr, want, js.len);
    mv_buf_clear(&js);
    registry_close(r);
}

/* A user and a medicine as the JSON API shows them, byte for byte (written with mv_jw since
 * issue 13; the bytes are those the hand-written code gave). */
static void test_user_and_medicine_json_bytes(void **state)
{
    (void)state;
    registry *r = NULL;
    registry_user u;
    mv_buf js;
    int created = 0;
    char want[1024], sk[65], bk[65];
    fresh_dir();
    assert_int_equal(registry_open(g_dir, &r), MV_OK);
    assert_int_equal(add(r, "Pat \"O\"", "patient", "cardiology", 7, &u), MV_OK);
    assert_int_equal(registry_profile_update(r, u.id, "p@x", "", "a\\b", NULL), MV_OK);
    assert_int_equal(registry_user_get(r, u.sign_pk, &u), MV_OK);
    assert_int_equal(mv_hex_encode(sk, sizeof sk, u.sign_pk, 32), MV_OK);
    assert_int_equal(mv_hex_encode(bk, sizeof bk, u.box_pk, 32), MV_OK);
    mv_buf_init(&js, 1 << 16);
    assert_int_equal(registry_user_json(&js, &u, 1), MV_OK);
    snprintf(want, sizeof want,
             "{\"name\":\"Pat \\\"O\\\"\",\"role\":\"patient\",\"departments\":[\"cardiology\"],"
             "\"sign_public_key\":\"%s\",\"box_public_key\":\"%s\",\"status\":\"active\",\"mrn\":\"%s\","
             "\"registered_at\":1000,\"email\":\"p@x\",\"phone\":\"\",\"about\":\"a\\\\b\"}",
             sk, bk, u.mrn);
    assert_int_equal(js.len, strlen(want));
    assert_memory_equal(js.ptr, want, js.len);
    mv_buf_reset(&js);
    assert_int_equal(registry_medicine_put(r, u.id, "Ibu", "tablet", "200 mg", "1 daily", NULL, 3000, &created, &js,
                                           NULL),
                     MV_OK);
    snprintf(want, sizeof want,
             "{\"id\":1,\"name\":\"Ibu\",\"form\":\"tablet\",\"strength\":\"200 mg\",\"dosage\":\"1 daily\","
             "\"code\":\"\",\"updated_at\":3000}");
    assert_int_equal(js.len, strlen(want));
    assert_memory_equal(js.ptr, want, js.len);
    mv_buf_clear(&js);
    registry_close(r);
}

static void test_roles(void **state)
{
    (void)state;
    static const registry_role roles[] = {REGISTRY_ROLE_ADMIN, REGISTRY_ROLE_DOCTOR, REGISTRY_ROLE_PATIENT};
    unsigned all = 0;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        assert_int_equal(registry_role_of(registry_role_name(roles[i])), roles[i]);
        assert_int_equal(all & (unsigned)roles[i], 0); /* distinct bits */
        all |= (unsigned)roles[i];
    }
    assert_int_equal(all, REGISTRY_ROLES_ANY);
    assert_string_equal(registry_role_name(REGISTRY_ROLE_PATIENT), "patient");
    assert_int_equal(registry_role_of("doctor"), REGISTRY_ROLE_DOCTOR);
    /* Credential roles of services, other spellings and nothing are no user role. */
    assert_int_equal(registry_role_of("storage"), REGISTRY_ROLE_NONE);
    assert_int_equal(registry_role_of("Admin"), REGISTRY_ROLE_NONE);
    assert_int_equal(registry_role_of("admin "), REGISTRY_ROLE_NONE);
    assert_int_equal(registry_role_of(""), REGISTRY_ROLE_NONE);
    assert_int_equal(registry_role_of(NULL), REGISTRY_ROLE_NONE);
    assert_string_equal(registry_role_name(REGISTRY_ROLE_NONE), "");
    assert_string_equal(registry_role_name((registry_role)REGISTRY_ROLES_ANY), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),                   cmocka_unit_test(test_departments_json_bytes),
        cmocka_unit_test(test_user_and_medicine_json_bytes),
        cmocka_unit_test(test_migrations_apply_once),   cmocka_unit_test(test_newer_database_refused),
        cmocka_unit_test(test_legacy_import),           cmocka_unit_test(test_users_and_random_mrns),
        cmocka_unit_test(test_mrn_check_digit),         cmocka_unit_test(test_self_registration_limits),
        cmocka_unit_test(test_status_and_revocations),  cmocka_unit_test(test_staff_names_unique),  cmocka_unit_test(test_appointment_transitions),
        cmocka_unit_test(test_delegation_rules),        cmocka_unit_test(test_alert_aggregation),
        cmocka_unit_test(test_devices_nonces_stepup),   cmocka_unit_test(test_migration_0002_keeps_alerts),
        cmocka_unit_test(test_migration_0003_keeps_users),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
