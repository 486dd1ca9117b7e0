/* registry.c - the hospital registry in SQLite: every change is one transaction built from
 * prepared statements with bound parameters (no SQL is ever assembled from input), so a bad
 * request changes nothing and no input can alter a query. */
#include "hospital/registry.h"

#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/utf8.h"
#include "hospital/migrations.h"
#include "hospital/registry_internal.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

#define LEGACY_FILE_MAX 8192

/* ---------- validation ---------- */

int registry_text_ok(const char *s, size_t max)
{
    if (!s)
        return 1;
    size_t l = strlen(s);
    if (l > max)
        return 0;
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return mv_utf8_valid((const unsigned char *)s, l);
}

int registry_name_ok(const char *s)
{
    return s && s[0] && registry_text_ok(s, REGISTRY_NAME_MAX);
}

int registry_department_ok(const char *s)
{
    if (!s)
        return 0;
    size_t l = strlen(s);
    if (l == 0 || l > MV_CRED_MAX_DEPT_LEN)
        return 0;
    for (size_t i = 0; i < l; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '_' ||
              c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static int role_ok(const char *r)
{
    return r && (!strcmp(r, "admin") || !strcmp(r, "doctor") || !strcmp(r, "patient"));
}

static int status_ok(const char *s)
{
    return s && (!strcmp(s, "pending") || !strcmp(s, "active") || !strcmp(s, "suspended") || !strcmp(s, "revoked"));
}

static int appt_status_ok(const char *s)
{
    return s && (!strcmp(s, "requested") || !strcmp(s, "booked") || !strcmp(s, "checked_in") ||
                 !strcmp(s, "completed") || !strcmp(s, "cancelled"));
}

int registry_appt_transition_ok(const char *from, const char *to)
{
    if (!appt_status_ok(from) || !appt_status_ok(to))
        return 0;
    if (!strcmp(to, "cancelled"))
        return strcmp(from, "completed") != 0 && strcmp(from, "cancelled") != 0;
    return (!strcmp(from, "requested") && !strcmp(to, "booked")) ||
           (!strcmp(from, "booked") && !strcmp(to, "checked_in")) ||
           (!strcmp(from, "checked_in") && !strcmp(to, "completed"));
}

uint64_t registry_migration_version(const char *name)
{
    uint64_t v = 0;
    if (!name)
        return 0;
    for (size_t i = 0; name[i] >= '0' && name[i] <= '9' && i < 9; i++)
        v = v * 10 + (uint64_t)(name[i] - '0');
    return v;
}

/* ---------- JSON writing ---------- */

static mv_err put_str(mv_buf *b, const char *key, const char *s)
{
    mv_err rc = mv_buf_puts(b, key);
    return rc == MV_OK ? mv_json_write_str(b, s, strlen(s)) : rc;
}

/* A TEXT column (hex keys, ids) written as a JSON string. */
static mv_err put_col(mv_buf *b, const char *key, sqlite3_stmt *st, int i)
{
    return put_str(b, key, col_str(st, i));
}

static mv_err put_col_or_null(mv_buf *b, const char *key, sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        mv_err rc = mv_buf_puts(b, key);
        return rc == MV_OK ? mv_buf_puts(b, "null") : rc;
    }
    return put_col(b, key, st, i);
}

static mv_err put_u64(mv_buf *b, const char *key, uint64_t v)
{
    return mv_buf_printf(b, "%s%llu", key, (unsigned long long)v);
}

/* ---------- open and migrate ---------- */

static mv_err load_departments(registry *r, registry_user *u)
{
    sqlite3_stmt *st = NULL;
    mv_err rc = prep(r, "SELECT department FROM user_departments WHERE user_id = ?1 ORDER BY department", &st);
    u->n_departments = 0;
    if (rc != MV_OK)
        return rc;
    sqlite3_bind_int64(st, 1, u->id);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        if (u->n_departments < MV_CRED_MAX_DEPTS)
            col_copy(st, 0, u->departments[u->n_departments++], sizeof u->departments[0]);
    if (s != SQLITE_DONE)
        rc = db_err(r, s, "departments");
    sqlite3_finalize(st);
    return rc;
}

#define USER_COLS "id, sign_pk, box_pk, name, role, status, IFNULL(mrn, ''), email, phone, about, registered_at"

/* Fills *u from a row of USER_COLS starting at column 0, then its departments. */
static mv_err user_from_row(registry *r, sqlite3_stmt *st, registry_user *u)
{
    memset(u, 0, sizeof *u);
    u->id = sqlite3_column_int64(st, 0);
    const char *spk = col_str(st, 1), *bpk = col_str(st, 2);
    if (mv_hex_decode_exact(u->sign_pk, 32, spk, strlen(spk)) != MV_OK ||
        mv_hex_decode_exact(u->box_pk, 32, bpk, strlen(bpk)) != MV_OK)
        return MV_ERR_IO;
    col_copy(st, 3, u->name, sizeof u->name);
    col_copy(st, 4, u->role, sizeof u->role);
    col_copy(st, 5, u->status, sizeof u->status);
    col_copy(st, 6, u->mrn, sizeof u->mrn);
    col_copy(st, 7, u->email, sizeof u->email);
    col_copy(st, 8, u->phone, sizeof u->phone);
    col_copy(st, 9, u->about, sizeof u->about);
    u->registered_at = col_u64(st, 10);
    return load_departments(r, u);
}

static mv_err user_by_pk(registry *r, const uint8_t pk[32], registry_user *u)
{
    sqlite3_stmt *st = NULL;
    mv_err rc = prep(r, "SELECT " USER_COLS " FROM users WHERE sign_pk = ?1", &st);
    if (rc == MV_OK && (rc = bind_hex(st, 1, pk, 32) == SQLITE_OK ? MV_OK : MV_ERR_INVAL) == MV_OK &&
        (rc = step_row(r, st, "user")) == MV_OK)
        rc = user_from_row(r, st, u);
    sqlite3_finalize(st);
    return rc;
}

static mv_err user_by_id(registry *r, int64_t id, registry_user *u)
{
    sqlite3_stmt *st = NULL;
    mv_err rc = prep(r, "SELECT " USER_COLS " FROM users WHERE id = ?1", &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, id);
        if ((rc = step_row(r, st, "user")) == MV_OK)
            rc = user_from_row(r, st, u);
    }
    sqlite3_finalize(st);
    return rc;
}

static mv_err user_by_mrn(registry *r, const char *mrn, registry_user *u)
{
    sqlite3_stmt *st = NULL;
    mv_err rc = prep(r, "SELECT " USER_COLS " FROM users WHERE mrn = ?1", &st);
    if (rc == MV_OK) {
        bind_text(st, 1, mrn);
        if ((rc = step_row(r, st, "user")) == MV_OK)
            rc = user_from_row(r, st, u);
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---------- MRNs ---------- */

/* MRNs are "MRN-" + 9 random digits + a Luhn check digit (ISO/IEC 7812-1 annex B): random so
 * that one reveals nothing about how many patients there are or in which order they came
 * (issue 11, finding 10), with a check digit that catches any single mistyped digit and most
 * swapped neighbours. The sequential MRNs given before ("MRN-" + 6 to 8 digits) stay valid and
 * cannot collide with the new ones, which are all 10 digits long. */
#define MRN_RANDOM_DIGITS 9
#define MRN_TRIES 16 /* draws before giving up; one collides with p < patients / 1e9 */

/* The Luhn check digit of digits[0..n) (all '0'..'9'). */
static int luhn_digit(const char *digits, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(digits[n - 1 - i] - '0');
        if (i % 2 == 0) { /* the rightmost payload digit is doubled: the check digit goes after it */
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return (int)((10 - sum % 10) % 10);
}

int registry_mrn_check_ok(const char *mrn)
{
    if (!mrn || strncmp(mrn, "MRN-", 4) != 0 || strlen(mrn) != 4 + MRN_RANDOM_DIGITS + 1)
        return 0;
    for (size_t i = 4; i < 4 + MRN_RANDOM_DIGITS + 1; i++)
        if (mrn[i] < '0' || mrn[i] > '9')
            return 0;
    return luhn_digit(mrn + 4, MRN_RANDOM_DIGITS) == mrn[4 + MRN_RANDOM_DIGITS] - '0';
}

/* One candidate MRN, uniformly random. */
static mv_err mrn_draw(char out[16])
{
    uint32_t x;
    /* Rejection sampling: 4e9 is the largest multiple of 1e9 below 2^32, so x % 1e9 is uniform. */
    do {
        if (mv_random_bytes(&x, sizeof x) != MV_OK)
            return MV_ERR_CRYPTO;
    } while (x >= 4000000000u);
    snprintf(out, 16, "MRN-%09lu", (unsigned long)(x % 1000000000u));
    out[4 + MRN_RANDOM_DIGITS] = (char)('0' + luhn_digit(out + 4, MRN_RANDOM_DIGITS));
    out[4 + MRN_RANDOM_DIGITS + 1] = 0;
    return MV_OK;
}

/* A fresh MRN no user holds, inside the caller's IMMEDIATE transaction (so no other writer can
 * take it before the INSERT; the UNIQUE constraint on users.mrn is the backstop). */
static mv_err next_mrn(registry *r, char out[16])
{
    for (int t = 0; t < MRN_TRIES; t++) {
        sqlite3_stmt *st = NULL;
        mv_err rc = mrn_draw(out);
        if (rc == MV_OK && (rc = prep(r, "SELECT 1 FROM users WHERE mrn = ?1", &st)) == MV_OK) {
            bind_text(st, 1, out);
            rc = step_row(r, st, "mrn");
        }
        sqlite3_finalize(st);
        if (rc == MV_ERR_NOT_FOUND)
            return MV_OK;
        if (rc != MV_OK)
            return rc;
    }
    mv_log(MV_LOG_ERROR, COMPONENT, "registry: %d random MRNs in a row were taken", MRN_TRIES);
    out[0] = 0;
    return MV_ERR_BUSY;
}

/* ---------- pending self-registrations ---------- */

/* Deletes every self-registration still pending REGISTRY_PENDING_SECONDS after it was made, so
 * that the cap on pending registrations frees itself. A pending user was never active, so no
 * appointment, delegation or event names it; what does (departments, devices) cascades. */
static mv_err pending_expire(registry *r, uint64_t now)
{
    sqlite3_stmt *st = NULL;
    if (now < REGISTRY_PENDING_SECONDS)
        return MV_OK;
    mv_err rc = prep(r, "DELETE FROM users WHERE status = 'pending' AND registered_at <= ?1", &st);
    if (rc == MV_OK) {
        bind_u64(st, 1, now - REGISTRY_PENDING_SECONDS);
        rc = step_done(r, st, "expire pending");
    }
    sqlite3_finalize(st);
    int n = sqlite3_changes(r->db);
    if (rc == MV_OK && n > 0)
        mv_log(MV_LOG_INFO, COMPONENT, "registry: %d unconfirmed self-registration(s) expired", n);
    return rc;
}

/* The number of pending users, all of them (source NULL) or those registered from source. */
static mv_err pending_count(registry *r, const char *source, uint64_t *n)
{
    sqlite3_stmt *st = NULL;
    mv_err rc = prep(r,
                     source ? "SELECT COUNT(*) FROM users WHERE status = 'pending' AND registered_from = ?1"
                            : "SELECT COUNT(*) FROM users WHERE status = 'pending'",
                     &st);
    if (rc == MV_OK) {
        if (source)
            bind_text(st, 1, source);
        if ((rc = step_row(r, st, "pending")) == MV_OK)
            *n = col_u64(st, 0);
    }
    sqlite3_finalize(st);
    return rc;
}

/* The limits of a self-registration from source (issue 11, finding 10), after pending_expire:
 * at most REGISTRY_MAX_PENDING_PER_SOURCE pending from one address (MV_ERR_RATE_LIMITED), so
 * that one address cannot fill the registry for everyone, and REGISTRY_MAX_PENDING in all
 * (MV_ERR_BUSY), so that the table stays bounded whatever the number of addresses. */
static mv_err pending_admit(registry *r, const char *source, const char **why)
{
    uint64_t n = 0;
    mv_err rc = pending_count(r, source, &n);
    if (rc == MV_OK && n >= REGISTRY_MAX_PENDING_PER_SOURCE) {
        WHY("too many registrations from this address are waiting for an admin; ask at the desk, or try again "
            "later");
        return MV_ERR_RATE_LIMITED;
    }
    if (rc == MV_OK && (rc = pending_count(r, NULL, &n)) == MV_OK && n >= REGISTRY_MAX_PENDING) {
        WHY("too many registrations are waiting for an admin; try again later");
        return MV_ERR_BUSY;
    }
    return rc;
}

static mv_err ensure_department(registry *r, const char *dept, uint64_t now)
{
    sqlite3_stmt *st = NULL;
    mv_err rc = prep(r, "INSERT OR IGNORE INTO departments (name, description, created_at) VALUES (?1, '', ?2)", &st);
    if (rc == MV_OK) {
        bind_text(st, 1, dept);
        bind_u64(st, 2, now);
        rc = step_done(r, st, "department");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Inserts a user inside an open transaction; *id_out receives its row id. */
static mv_err user_insert(registry *r, const registry_new_user *nu, uint64_t registered_at, uint64_t now,
                          int64_t *id_out, const char **why)
{
    sqlite3_stmt *st = NULL;
    char mrn[16] = "";
    mv_err rc = MV_OK;
    const char *status = nu->status ? nu->status : "active";
    if (!registry_name_ok(nu->name) || !role_ok(nu->role) || !status_ok(status) ||
        nu->n_departments > MV_CRED_MAX_DEPTS || (nu->n_departments && !nu->departments) ||
        !registry_text_ok(nu->email, REGISTRY_TEXT_MAX) || !registry_text_ok(nu->phone, REGISTRY_TEXT_MAX)) {
        WHY("invalid registration: role must be doctor, patient or admin, names are 1-128 printable bytes, "
            "email and phone at most 256 printable bytes, at most 16 departments");
        return MV_ERR_INVAL;
    }
    if (!strcmp(nu->role, "doctor") && nu->n_departments == 0) {
        WHY("a doctor needs at least one department");
        return MV_ERR_INVAL;
    }
    for (size_t i = 0; i < nu->n_departments; i++)
        if (!registry_department_ok(nu->departments[i])) {
            WHY("department names are 1-63 characters of [A-Za-z0-9 _.-]");
            return MV_ERR_INVAL;
        }
    if (nu->source && (strlen(nu->source) > REGISTRY_SOURCE_MAX || strcmp(status, "pending") != 0)) {
        WHY("a self-registration is pending and names its source address");
        return MV_ERR_INVAL;
    }
    /* Expire first, so that a key whose registration lapsed may register again. */
    if (nu->source && (rc = pending_expire(r, now)) != MV_OK)
        return rc;
    if ((rc = prep(r, "SELECT 1 FROM users WHERE sign_pk = ?1", &st)) != MV_OK)
        return rc;
    bind_hex(st, 1, nu->sign_pk, 32);
    rc = step_row(r, st, "user");
    sqlite3_finalize(st);
    st = NULL;
    if (rc == MV_OK) {
        WHY("this signing key is already registered");
        return MV_ERR_EXISTS;
    }
    if (rc != MV_ERR_NOT_FOUND)
        return rc;
    if (nu->source && (rc = pending_admit(r, nu->source, why)) != MV_OK)
        return rc;
    if (!strcmp(nu->role, "patient") && (rc = next_mrn(r, mrn)) != MV_OK)
        return rc;
    /* Only a self-registration names registered_from: the legacy import runs inside migration
     * 0001, before 0003 adds that column. */
    rc = prep(r,
              nu->source ? "INSERT INTO users (sign_pk, box_pk, name, role, status, mrn, email, phone, about, "
                           "registered_at, status_changed_at, registered_from) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '', ?9, ?10, ?11)"
                         : "INSERT INTO users (sign_pk, box_pk, name, role, status, mrn, email, phone, about, "
                           "registered_at, status_changed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '', ?9, ?10)",
              &st);
    if (rc != MV_OK)
        return rc;
    bind_hex(st, 1, nu->sign_pk, 32);
    bind_hex(st, 2, nu->box_pk, 32);
    bind_text(st, 3, nu->name);
    bind_text(st, 4, nu->role);
    bind_text(st, 5, status);
    bind_text(st, 6, mrn[0] ? mrn : NULL);
    bind_text(st, 7, nu->email ? nu->email : "");
    bind_text(st, 8, nu->phone ? nu->phone : "");
    bind_u64(st, 9, registered_at);
    bind_u64(st, 10, now);
    if (nu->source)
        bind_text(st, 11, nu->source);
    rc = step_done(r, st, "insert user");
    sqlite3_finalize(st);
    st = NULL;
    if (rc != MV_OK)
        return rc;
    int64_t id = sqlite3_last_insert_rowid(r->db);
    for (size_t i = 0; i < nu->n_departments && rc == MV_OK; i++) {
        if ((rc = ensure_department(r, nu->departments[i], now)) != MV_OK ||
            (rc = prep(r, "INSERT OR IGNORE INTO user_departments (user_id, department) VALUES (?1, ?2)", &st)) !=
                MV_OK)
            break;
        sqlite3_bind_int64(st, 1, id);
        bind_text(st, 2, nu->departments[i]);
        rc = step_done(r, st, "user department");
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK && id_out)
        *id_out = id;
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Imports one legacy users/<hex>.json file inside the migration's transaction. MV_ERR_PARSE
 * for a malformed file (skipped by the caller). */
static mv_err import_one(registry *r, const char *path, const char *fname, uint64_t now)
{
    mv_buf b;
    mv_json *root = NULL;
    registry_new_user nu;
    const char *depts[MV_CRED_MAX_DEPTS];
    mv_err rc;
    memset(&nu, 0, sizeof nu);
    mv_buf_init(&b, LEGACY_FILE_MAX);
    if ((rc = mv_file_read(path, LEGACY_FILE_MAX, &b)) != MV_OK)
        goto out;
    if (mv_json_parse((const char *)b.ptr, b.len, NULL, &root, NULL) != MV_OK ||
        mv_json_type_of(root) != MV_JSON_OBJECT || mv_json_get_hex(root, "sign_public_key", nu.sign_pk, 32) != MV_OK ||
        mv_json_get_hex(root, "box_public_key", nu.box_pk, 32) != MV_OK) {
        rc = MV_ERR_PARSE;
        goto out;
    }
    uint8_t fpk[32];
    if (mv_hex_decode_exact(fpk, 32, fname, 64) != MV_OK || memcmp(fpk, nu.sign_pk, 32) != 0) {
        rc = MV_ERR_PARSE;
        goto out;
    }
    const mv_json *jd = mv_json_get(root, "departments");
    if (jd && (mv_json_type_of(jd) != MV_JSON_ARRAY || mv_json_len(jd) > MV_CRED_MAX_DEPTS)) {
        rc = MV_ERR_PARSE;
        goto out;
    }
    for (size_t i = 0; i < mv_json_len(jd); i++)
        if (!(depts[nu.n_departments++] = mv_json_str(mv_json_at(jd, i), NULL))) {
            rc = MV_ERR_PARSE;
            goto out;
        }
    uint64_t at = now;
    if (mv_json_get(root, "registered_at") && mv_json_get_u64(root, "registered_at", &at) != MV_OK) {
        rc = MV_ERR_PARSE;
        goto out;
    }
    nu.name = mv_json_get_str(root, "name", NULL);
    nu.role = mv_json_get_str(root, "role", NULL);
    nu.departments = depts;
    nu.status = mv_json_get_str(root, "status", NULL);
    if (!nu.status)
        nu.status = "active";
    rc = user_insert(r, &nu, at, now, NULL, NULL);
    if (rc == MV_ERR_INVAL || rc == MV_ERR_EXISTS)
        rc = MV_ERR_PARSE;
out:
    mv_json_free(root);
    mv_buf_clear(&b);
    return rc;
}

/* Imports DIR/users/<64 hex>.json (deployments made before the registry), in name order. */
static mv_err import_legacy(registry *r, const char *dir, uint64_t now)
{
    char udir[4096], path[4096];
    char **names = NULL;
    size_t n = 0, cap = 0, imported = 0, skipped = 0;
    mv_err rc = MV_OK;
    if ((rc = mv_path_join(udir, sizeof udir, dir, "users")) != MV_OK)
        return rc;
    DIR *d = opendir(udir);
    if (!d)
        return MV_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l != 69 || strcmp(e->d_name + 64, ".json") != 0)
            continue;
        if ((rc = mv_array_grow(&names, &cap, n, sizeof *names, 16)) != MV_OK)
            break;
        if (!(names[n] = mv_strdup(e->d_name))) {
            rc = MV_ERR_NOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == MV_OK && n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n && rc == MV_OK; i++) {
        if ((rc = mv_path_join(path, sizeof path, udir, names[i])) != MV_OK)
            break;
        rc = import_one(r, path, names[i], now);
        if (rc == MV_OK) {
            imported++;
        } else if (rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE) {
            mv_log(MV_LOG_WARN, COMPONENT, "legacy registration %.16s... is malformed or a duplicate: skipped",
                   names[i]);
            skipped++;
            rc = MV_OK;
        }
    }
    for (size_t i = 0; i < n; i++)
        mv_free(names[i]);
    mv_free(names);
    if (rc == MV_OK && (imported || skipped))
        mv_log(MV_LOG_INFO, COMPONENT, "imported %zu legacy registrations into the registry (%zu skipped)", imported,
               skipped);
    return rc;
}

static mv_err max_applied(registry *r, uint64_t *v)
{
    sqlite3_stmt *st = NULL;
    mv_err rc = prep(r, "SELECT IFNULL(MAX(version), 0) FROM schema_migrations", &st);
    if (rc == MV_OK && (rc = step_row(r, st, "schema version")) == MV_OK)
        *v = col_u64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

static mv_err migrate(registry *r, const char *dir, uint64_t now)
{
    uint64_t known = 0, have = 0;
    mv_err rc = exec_fixed(r, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                              "name TEXT, applied_at INTEGER)");
    if (rc != MV_OK)
        return rc;
    for (size_t i = 0; i < mv_migrations_count; i++) {
        uint64_t v = registry_migration_version(mv_migrations[i].name);
        if (v == 0 || v <= known) {
            mv_log(MV_LOG_ERROR, COMPONENT, "built-in migration %s is misnumbered", mv_migrations[i].name);
            return MV_ERR_BAD_STATE;
        }
        known = v;
    }
    if ((rc = max_applied(r, &have)) != MV_OK)
        return rc;
    if (have > known) {
        mv_log(MV_LOG_ERROR, COMPONENT,
               "%s/registry.db has schema version %llu but this medvault knows only up to %llu: run a newer medvault",
               dir, (unsigned long long)have, (unsigned long long)known);
        return MV_ERR_BAD_STATE;
    }
    for (size_t i = 0; i < mv_migrations_count && rc == MV_OK; i++) {
        const mv_migration *m = &mv_migrations[i];
        uint64_t v = registry_migration_version(m->name);
        sqlite3_stmt *st = NULL;
        if ((rc = tx_begin(r)) != MV_OK)
            break;
        /* Checked inside the write transaction: another process may have applied it meanwhile. */
        if ((rc = prep(r, "SELECT 1 FROM schema_migrations WHERE version = ?1", &st)) == MV_OK) {
            bind_u64(st, 1, v);
            rc = step_row(r, st, "schema_migrations");
            sqlite3_finalize(st);
            st = NULL;
        }
        if (rc == MV_OK) { /* already applied */
            rc = tx_end(r, MV_OK);
            continue;
        }
        if (rc == MV_ERR_NOT_FOUND)
            rc = exec_fixed(r, m->sql);
        if (rc == MV_OK && (rc = prep(r, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                                      &st)) == MV_OK) {
            bind_u64(st, 1, v);
            bind_text(st, 2, m->name);
            bind_u64(st, 3, now);
            rc = step_done(r, st, "schema_migrations");
            sqlite3_finalize(st);
        }
        if (rc == MV_OK && v == 1)
            rc = import_legacy(r, dir, now);
        rc = tx_end(r, rc);
        if (rc == MV_OK)
            mv_log(MV_LOG_INFO, COMPONENT, "registry: applied migration %s", m->name);
        else
            mv_log(MV_LOG_ERROR, COMPONENT, "registry: migration %s failed: %s", m->name, mv_strerror(rc));
    }
    return rc;
}

mv_err registry_open(const char *dir, registry **out)
{
    char path[4096];
    registry *r = NULL;
    mv_err rc;
    if (!dir || !out)
        return MV_ERR_INVAL;
    *out = NULL;
    if ((rc = mv_path_join(path, sizeof path, dir, "registry.db")) != MV_OK)
        return rc;
    if (!(r = mv_calloc(1, sizeof *r)))
        return MV_ERR_NOMEM;
    pthread_mutex_init(&r->lock, NULL);
    int s = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (s != SQLITE_OK) {
        rc = db_err(r, s, "open");
        goto out;
    }
    /* Contacts live here: owner only (SQLite gives the -wal and -shm files the same mode). */
    if (chmod(path, 0600) != 0) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot restrict the permissions of %s", path);
        rc = MV_ERR_IO;
        goto out;
    }
    sqlite3_extended_result_codes(r->db, 0);
    if ((s = sqlite3_busy_timeout(r->db, 5000)) != SQLITE_OK) {
        rc = db_err(r, s, "busy_timeout");
        goto out;
    }
    if ((rc = exec_fixed(r, "PRAGMA journal_mode = WAL")) != MV_OK ||
        (rc = exec_fixed(r, "PRAGMA foreign_keys = ON")) != MV_OK ||
        (rc = exec_fixed(r, "PRAGMA synchronous = FULL")) != MV_OK)
        goto out;
    rc = migrate(r, dir, (uint64_t)time(NULL));
out:
    if (rc != MV_OK) {
        registry_close(r);
        return rc;
    }
    *out = r;
    return MV_OK;
}

void registry_close(registry *r)
{
    if (!r)
        return;
    if (r->db)
        sqlite3_close_v2(r->db);
    pthread_mutex_destroy(&r->lock);
    mv_free(r);
}

uint64_t registry_schema_version(registry *r)
{
    uint64_t v = 0;
    if (!r)
        return 0;
    pthread_mutex_lock(&r->lock);
    if (max_applied(r, &v) != MV_OK)
        v = 0;
    pthread_mutex_unlock(&r->lock);
    return v;
}

/* ---------- users ---------- */

mv_err registry_user_add(registry *r, const registry_new_user *nu, uint64_t now, uint64_t cred_issued,
                         uint64_t cred_expires, registry_user *out, const char **why)
{
    int64_t id = 0;
    if (!r || !nu)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK)
        rc = user_insert(r, nu, now, now, &id, why);
    if (rc == MV_OK && cred_expires) {
        sqlite3_stmt *st = NULL;
        if ((rc = prep(r, "INSERT INTO credentials (user_id, issued_at, expires_at, reason) VALUES (?1, ?2, ?3, "
                          "'register')",
                       &st)) == MV_OK) {
            sqlite3_bind_int64(st, 1, id);
            bind_u64(st, 2, cred_issued);
            bind_u64(st, 3, cred_expires);
            rc = step_done(r, st, "credential log");
        }
        sqlite3_finalize(st);
    }
    if (rc == MV_OK && out)
        rc = user_by_id(r, id, out);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_user_get(registry *r, const uint8_t pk[32], registry_user *out)
{
    if (!r || !pk || !out)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = user_by_pk(r, pk, out);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_user_find(registry *r, const char *s, registry_user *out)
{
    uint8_t pk[32];
    if (!r || !s || !out)
        return MV_ERR_INVAL;
    size_t l = strlen(s);
    if (l == 64 && mv_hex_decode_exact(pk, 32, s, 64) == MV_OK)
        return registry_user_get(r, pk, out);
    if (l < 5 || l > 15 || strncmp(s, "MRN-", 4) != 0)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = user_by_mrn(r, s, out);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_user_set_status(registry *r, const uint8_t pk[32], const char *status, uint64_t now,
                                registry_user *out, const char **why)
{
    registry_user u;
    sqlite3_stmt *st = NULL;
    if (!r || !pk || !out)
        return MV_ERR_INVAL;
    if (!status_ok(status)) {
        WHY("status must be active, suspended or revoked");
        return MV_ERR_INVAL;
    }
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK && (rc = user_by_pk(r, pk, &u)) == MV_ERR_NOT_FOUND)
        WHY("no such user");
    if (rc != MV_OK || !strcmp(u.status, status))
        goto done;
    if (!strcmp(u.status, "revoked")) {
        WHY("a revoked user stays revoked: register a new key");
        rc = MV_ERR_BAD_STATE;
        goto done;
    }
    if (!strcmp(status, "pending")) {
        WHY("a user cannot go back to pending");
        rc = MV_ERR_BAD_STATE;
        goto done;
    }
    /* A registration's source address is kept only while it is pending (to count it). */
    if ((rc = prep(r, "UPDATE users SET status = ?1, status_changed_at = ?2, registered_from = NULL WHERE id = ?3",
                   &st)) != MV_OK)
        goto done;
    bind_text(st, 1, status);
    bind_u64(st, 2, now);
    sqlite3_bind_int64(st, 3, u.id);
    rc = step_done(r, st, "status");
    sqlite3_finalize(st);
    if (rc == MV_OK)
        rc = exec_fixed(r, "UPDATE revocation_state SET serial = serial + 1 WHERE one = 1");
done:
    if (rc == MV_OK)
        rc = user_by_pk(r, pk, out);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_profile_update(registry *r, int64_t user_id, const char *email, const char *phone, const char *about,
                               const char **why)
{
    sqlite3_stmt *st = NULL;
    if (!r)
        return MV_ERR_INVAL;
    if (!registry_text_ok(email, REGISTRY_TEXT_MAX) || !registry_text_ok(phone, REGISTRY_TEXT_MAX) ||
        !registry_text_ok(about, REGISTRY_TEXT_MAX)) {
        WHY("email, phone and about are at most 256 printable bytes each");
        return MV_ERR_INVAL;
    }
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK &&
        (rc = prep(r,
                   "UPDATE users SET email = IFNULL(?1, email), phone = IFNULL(?2, phone), about = IFNULL(?3, about) "
                   "WHERE id = ?4",
                   &st)) == MV_OK) {
        bind_text(st, 1, email);
        bind_text(st, 2, phone);
        bind_text(st, 3, about);
        sqlite3_bind_int64(st, 4, user_id);
        if ((rc = step_done(r, st, "profile")) == MV_OK && sqlite3_changes(r->db) == 0)
            rc = MV_ERR_NOT_FOUND;
    }
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_credential_log(registry *r, int64_t user_id, uint64_t issued, uint64_t expires, const char *reason)
{
    sqlite3_stmt *st = NULL;
    if (!r || !reason || (strcmp(reason, "register") != 0 && strcmp(reason, "renew") != 0))
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r, "INSERT INTO credentials (user_id, issued_at, expires_at, reason) VALUES (?1, ?2, ?3, ?4)", &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, user_id);
        bind_u64(st, 2, issued);
        bind_u64(st, 3, expires);
        bind_text(st, 4, reason);
        rc = step_done(r, st, "credential log");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_revocations(registry *r, uint8_t **keys, size_t *n, uint64_t *serial)
{
    sqlite3_stmt *st = NULL;
    uint8_t *k = NULL;
    size_t cnt = 0, cap = 0;
    if (!r || !keys || !n || !serial)
        return MV_ERR_INVAL;
    *keys = NULL;
    *n = 0;
    pthread_mutex_lock(&r->lock);
    mv_err rc = exec_fixed(r, "BEGIN");
    if (rc == MV_OK && (rc = prep(r, "SELECT serial FROM revocation_state WHERE one = 1", &st)) == MV_OK &&
        (rc = step_row(r, st, "revocation serial")) == MV_OK)
        *serial = col_u64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (rc == MV_OK && (rc = prep(r, "SELECT sign_pk FROM users WHERE status IN ('suspended', 'revoked')", &st)) == MV_OK) {
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            if ((rc = mv_array_grow(&k, &cap, cnt, 32, 16)) != MV_OK)
                break;
            const char *hex = col_str(st, 0);
            if (mv_hex_decode_exact(k + 32 * cnt, 32, hex, strlen(hex)) != MV_OK) {
                rc = MV_ERR_IO;
                break;
            }
            cnt++;
        }
        if (rc == MV_OK && s != SQLITE_DONE)
            rc = db_err(r, s, "revocations");
    }
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    if (rc != MV_OK) {
        mv_free(k);
        return rc;
    }
    *keys = k;
    *n = cnt;
    return MV_OK;
}

mv_err registry_user_json(mv_buf *b, const registry_user *u, int private)
{
    mv_err rc;
    if (!b || !u)
        return MV_ERR_INVAL;
    if ((rc = put_str(b, "{\"name\":", u->name)) != MV_OK || (rc = put_str(b, ",\"role\":", u->role)) != MV_OK ||
        (rc = mv_buf_puts(b, ",\"departments\":[")) != MV_OK)
        return rc;
    for (size_t i = 0; i < u->n_departments; i++)
        if ((rc = put_str(b, i ? "," : "", u->departments[i])) != MV_OK)
            return rc;
    if ((rc = mv_buf_puts(b, "],\"sign_public_key\":")) != MV_OK || (rc = mv_json_write_hex(b, u->sign_pk, 32)) != MV_OK ||
        (rc = mv_buf_puts(b, ",\"box_public_key\":")) != MV_OK || (rc = mv_json_write_hex(b, u->box_pk, 32)) != MV_OK ||
        (rc = put_str(b, ",\"status\":", u->status)) != MV_OK)
        return rc;
    if (u->mrn[0] && (rc = put_str(b, ",\"mrn\":", u->mrn)) != MV_OK)
        return rc;
    if ((rc = put_u64(b, ",\"registered_at\":", u->registered_at)) != MV_OK)
        return rc;
    if (private && ((rc = put_str(b, ",\"email\":", u->email)) != MV_OK ||
                    (rc = put_str(b, ",\"phone\":", u->phone)) != MV_OK ||
                    (rc = put_str(b, ",\"about\":", u->about)) != MV_OK))
        return rc;
    return mv_buf_puts(b, "}");
}

mv_err registry_directory_json(registry *r, const char *q, const char *role, const char *dept, size_t limit,
                               int private, mv_buf *b)
{
    sqlite3_stmt *st = NULL;
    char pat[2 * LIKE_MAX + 4];
    registry_user u;
    if (!r || !b || limit == 0 || limit > REGISTRY_DIRECTORY_MAX || (q && strlen(q) > LIKE_MAX))
        return MV_ERR_INVAL;
    if (q && q[0] && like_pattern(q, pat, sizeof pat) != MV_OK)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = exec_fixed(r, "BEGIN");
    if (rc == MV_OK)
        rc = prep(r,
                  "SELECT " USER_COLS " FROM users WHERE (?1 IS NULL OR name LIKE ?1 ESCAPE '\\') "
                  "AND (?2 IS NULL OR role = ?2) AND (?3 IS NULL OR EXISTS (SELECT 1 FROM user_departments ud "
                  "WHERE ud.user_id = users.id AND ud.department = ?3)) ORDER BY name, id LIMIT ?4",
                  &st);
    if (rc == MV_OK) {
        bind_text(st, 1, q && q[0] ? pat : NULL);
        bind_text(st, 2, role && role[0] ? role : NULL);
        bind_text(st, 3, dept && dept[0] ? dept : NULL);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)limit);
        rc = mv_buf_puts(b, "{\"users\":[");
        int s = SQLITE_DONE, first = 1;
        while (rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
            if ((rc = user_from_row(r, st, &u)) != MV_OK || (!first && (rc = mv_buf_puts(b, ",")) != MV_OK) ||
                (rc = registry_user_json(b, &u, private)) != MV_OK)
                break;
            first = 0;
        }
        if (rc == MV_OK && s != SQLITE_DONE)
            rc = db_err(r, s, "directory");
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "]}");
    }
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---------- departments ---------- */

mv_err registry_departments_json(registry *r, mv_buf *b)
{
    sqlite3_stmt *st = NULL;
    if (!r || !b)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT d.name, d.description, "
                     "(SELECT COUNT(*) FROM user_departments ud JOIN users u ON u.id = ud.user_id "
                     " WHERE ud.department = d.name AND u.role = 'doctor'), "
                     "(SELECT COUNT(*) FROM user_departments ud JOIN users u ON u.id = ud.user_id "
                     " WHERE ud.department = d.name AND u.role = 'patient') "
                     "FROM departments d ORDER BY d.name",
                     &st);
    if (rc == MV_OK) {
        rc = mv_buf_puts(b, "{\"departments\":[");
        int s = SQLITE_DONE, first = 1;
        while (rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
            if ((!first && (rc = mv_buf_puts(b, ",")) != MV_OK) || (rc = put_col(b, "{\"name\":", st, 0)) != MV_OK ||
                (rc = put_col(b, ",\"description\":", st, 1)) != MV_OK ||
                (rc = put_u64(b, ",\"doctors\":", col_u64(st, 2))) != MV_OK ||
                (rc = put_u64(b, ",\"patients\":", col_u64(st, 3))) != MV_OK || (rc = mv_buf_puts(b, "}")) != MV_OK)
                break;
            first = 0;
        }
        if (rc == MV_OK && s != SQLITE_DONE)
            rc = db_err(r, s, "departments");
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "]}");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_department_put(registry *r, const char *name, const char *desc, uint64_t now, int *created,
                               const char **why)
{
    sqlite3_stmt *st = NULL;
    if (!r || !created)
        return MV_ERR_INVAL;
    if (!registry_department_ok(name) || !registry_text_ok(desc, REGISTRY_TEXT_MAX)) {
        WHY("a department name is 1-63 characters of [A-Za-z0-9 _.-]; description at most 256 printable bytes");
        return MV_ERR_INVAL;
    }
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK && (rc = prep(r, "SELECT 1 FROM departments WHERE name = ?1", &st)) == MV_OK) {
        bind_text(st, 1, name);
        rc = step_row(r, st, "department");
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK || rc == MV_ERR_NOT_FOUND) {
        *created = rc == MV_ERR_NOT_FOUND;
        rc = prep(r,
                  *created ? "INSERT INTO departments (name, description, created_at) VALUES (?1, IFNULL(?2, ''), ?3)"
                           : "UPDATE departments SET description = IFNULL(?2, description) WHERE name = ?1",
                  &st);
        if (rc == MV_OK) {
            bind_text(st, 1, name);
            bind_text(st, 2, desc);
            if (*created)
                bind_u64(st, 3, now);
            rc = step_done(r, st, "department");
        }
        sqlite3_finalize(st);
    }
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---------- appointments ---------- */

#define APPT_SELECT                                                                                                 \
    "SELECT a.id, p.name, IFNULL(p.mrn, ''), p.sign_pk, a.department, d.name, d.sign_pk, a.starts_at, a.place, "   \
    "a.reason, a.status, a.created_at, a.updated_at FROM appointments a JOIN users p ON p.id = a.patient_id "     \
    "LEFT JOIN users d ON d.id = a.doctor_id "
/* ?1 viewer role, ?2 viewer id. */
#define APPT_VISIBLE                                                                                                \
    "(?1 = 'admin' OR (?1 = 'patient' AND a.patient_id = ?2) OR (?1 = 'doctor' AND (a.doctor_id = ?2 OR "          \
    "a.department IN (SELECT department FROM user_departments WHERE user_id = ?2)))) "

static mv_err appt_row_json(mv_buf *b, sqlite3_stmt *st)
{
    mv_err rc;
    if ((rc = put_col(b, "{\"id\":", st, 0)) != MV_OK || (rc = put_col(b, ",\"patient\":{\"name\":", st, 1)) != MV_OK ||
        (rc = put_col(b, ",\"mrn\":", st, 2)) != MV_OK || (rc = put_col(b, ",\"sign_public_key\":", st, 3)) != MV_OK ||
        (rc = put_col_or_null(b, "},\"department\":", st, 4)) != MV_OK)
        return rc;
    if (sqlite3_column_type(st, 6) == SQLITE_NULL)
        rc = mv_buf_puts(b, ",\"doctor\":null");
    else if ((rc = put_col(b, ",\"doctor\":{\"name\":", st, 5)) == MV_OK &&
             (rc = put_col(b, ",\"sign_public_key\":", st, 6)) == MV_OK)
        rc = mv_buf_puts(b, "}");
    if (rc != MV_OK)
        return rc;
    if (sqlite3_column_type(st, 7) == SQLITE_NULL)
        rc = mv_buf_puts(b, ",\"starts_at\":null");
    else
        rc = put_u64(b, ",\"starts_at\":", col_u64(st, 7));
    if (rc != MV_OK || (rc = put_col(b, ",\"place\":", st, 8)) != MV_OK ||
        (rc = put_col(b, ",\"reason\":", st, 9)) != MV_OK || (rc = put_col(b, ",\"status\":", st, 10)) != MV_OK ||
        (rc = put_u64(b, ",\"created_at\":", col_u64(st, 11))) != MV_OK ||
        (rc = put_u64(b, ",\"updated_at\":", col_u64(st, 12))) != MV_OK)
        return rc;
    return mv_buf_puts(b, "}");
}

static int appt_id_ok(const char *id)
{
    if (!id || strlen(id) != 32)
        return 0;
    for (size_t i = 0; i < 32; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

static int has_department(const registry_user *u, const char *dept)
{
    for (size_t i = 0; i < u->n_departments; i++)
        if (!strcmp(u->departments[i], dept))
            return 1;
    return 0;
}

static mv_err department_exists(registry *r, const char *dept)
{
    sqlite3_stmt *st = NULL;
    mv_err rc = prep(r, "SELECT 1 FROM departments WHERE name = ?1", &st);
    if (rc == MV_OK) {
        bind_text(st, 1, dept);
        rc = step_row(r, st, "department");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Checks a (department, doctor) assignment; *doctor_id receives the doctor's row id (0 if none). */
static mv_err check_assignment(registry *r, const char *dept, const uint8_t *doctor_pk, int64_t doctor_id_in,
                               int64_t *doctor_id, const char **why)
{
    registry_user d;
    mv_err rc;
    *doctor_id = doctor_id_in;
    if (dept) {
        if (!registry_department_ok(dept)) {
            WHY("department names are 1-63 characters of [A-Za-z0-9 _.-]");
            return MV_ERR_INVAL;
        }
        if ((rc = department_exists(r, dept)) == MV_ERR_NOT_FOUND) {
            WHY("no such department");
            return MV_ERR_INVAL;
        }
        if (rc != MV_OK)
            return rc;
    }
    if (!doctor_pk && !doctor_id_in)
        return MV_OK;
    rc = doctor_pk ? user_by_pk(r, doctor_pk, &d) : user_by_id(r, doctor_id_in, &d);
    if (rc == MV_ERR_NOT_FOUND || (rc == MV_OK && (strcmp(d.role, "doctor") != 0 || strcmp(d.status, "active") != 0))) {
        WHY("the doctor must be a registered, active doctor");
        return MV_ERR_INVAL;
    }
    if (rc != MV_OK)
        return rc;
    if (!dept || !has_department(&d, dept)) {
        WHY("the doctor must belong to the appointment's department");
        return MV_ERR_INVAL;
    }
    *doctor_id = d.id;
    return MV_OK;
}

static mv_err appt_event(registry *r, const char *id, int64_t actor, const char *status, uint64_t now)
{
    sqlite3_stmt *st = NULL;
    mv_err rc =
        prep(r, "INSERT INTO appointment_events (appointment_id, actor_id, status, at) VALUES (?1, ?2, ?3, ?4)", &st);
    if (rc == MV_OK) {
        bind_text(st, 1, id);
        sqlite3_bind_int64(st, 2, actor);
        bind_text(st, 3, status);
        bind_u64(st, 4, now);
        rc = step_done(r, st, "appointment event");
    }
    sqlite3_finalize(st);
    return rc;
}

mv_err registry_appt_create(registry *r, const registry_user *actor, const registry_user *patient,
                            const registry_appt_change *c, uint64_t now, char id_out[33], const char **why)
{
    sqlite3_stmt *st = NULL;
    uint8_t raw[16];
    int64_t doctor_id = 0;
    if (!r || !actor || !patient || !c || !id_out)
        return MV_ERR_INVAL;
    if (!strcmp(actor->role, "patient")) {
        if (actor->id != patient->id) {
            WHY("a patient requests appointments for themself only");
            return MV_ERR_FORBIDDEN;
        }
        if (c->doctor || c->set_starts_at || c->place) {
            WHY("a patient requests an appointment; an admin books doctor, time and place");
            return MV_ERR_FORBIDDEN;
        }
    } else if (strcmp(actor->role, "admin") != 0) {
        WHY("only patients and admins create appointments");
        return MV_ERR_FORBIDDEN;
    }
    if (strcmp(patient->role, "patient") != 0) {
        WHY("appointments are for registered patients");
        return MV_ERR_INVAL;
    }
    if (strcmp(patient->status, "active") != 0) {
        WHY("the patient is not active");
        return MV_ERR_BAD_STATE;
    }
    if (!registry_text_ok(c->place, REGISTRY_TEXT_MAX) || !registry_text_ok(c->reason, REGISTRY_TEXT_MAX)) {
        WHY("place and reason are at most 256 printable bytes");
        return MV_ERR_INVAL;
    }
    mv_err rc = mv_random_bytes(raw, sizeof raw);
    if (rc != MV_OK || (rc = mv_hex_encode(id_out, 33, raw, sizeof raw)) != MV_OK)
        return rc;
    pthread_mutex_lock(&r->lock);
    if ((rc = tx_begin(r)) != MV_OK)
        goto done;
    if ((rc = check_assignment(r, c->department, c->doctor, 0, &doctor_id, why)) != MV_OK)
        goto done;
    int booked = c->department && doctor_id && c->set_starts_at && c->place && c->place[0];
    const char *status = booked ? "booked" : "requested";
    if ((rc = prep(r,
                   "INSERT INTO appointments (id, patient_id, department, doctor_id, starts_at, place, reason, status, "
                   "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                   &st)) != MV_OK)
        goto done;
    bind_text(st, 1, id_out);
    sqlite3_bind_int64(st, 2, patient->id);
    bind_text(st, 3, c->department);
    if (doctor_id)
        sqlite3_bind_int64(st, 4, doctor_id);
    else
        sqlite3_bind_null(st, 4);
    if (c->set_starts_at)
        bind_u64(st, 5, c->starts_at);
    else
        sqlite3_bind_null(st, 5);
    bind_text(st, 6, c->place ? c->place : "");
    bind_text(st, 7, c->reason ? c->reason : "");
    bind_text(st, 8, status);
    bind_u64(st, 9, now);
    rc = step_done(r, st, "insert appointment");
    if (rc == MV_OK)
        rc = appt_event(r, id_out, actor->id, status, now);
done:
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_appt_update(registry *r, const registry_user *actor, const char *id, const registry_appt_change *c,
                            uint64_t now, const char **why)
{
    sqlite3_stmt *st = NULL;
    char dept[MV_CRED_MAX_DEPT_LEN + 1] = "", place[REGISTRY_TEXT_MAX + 1] = "", status[16] = "";
    int has_dept = 0, has_start = 0;
    int64_t patient_id = 0, doctor_id = 0;
    uint64_t starts = 0;
    if (!r || !actor || !c)
        return MV_ERR_INVAL;
    if (!appt_id_ok(id)) {
        WHY("no such appointment");
        return MV_ERR_NOT_FOUND;
    }
    if (c->status && !appt_status_ok(c->status)) {
        WHY("status must be requested, booked, checked_in, completed or cancelled");
        return MV_ERR_INVAL;
    }
    if (!registry_text_ok(c->place, REGISTRY_TEXT_MAX)) {
        WHY("place is at most 256 printable bytes");
        return MV_ERR_INVAL;
    }
    int fields = c->department || c->doctor || c->set_starts_at || c->place || c->reason;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc != MV_OK)
        goto done;
    if ((rc = prep(r, "SELECT patient_id, department, IFNULL(doctor_id, 0), starts_at, place, status FROM appointments "
                      "WHERE id = ?1",
                   &st)) != MV_OK)
        goto done;
    bind_text(st, 1, id);
    if ((rc = step_row(r, st, "appointment")) != MV_OK) {
        if (rc == MV_ERR_NOT_FOUND)
            WHY("no such appointment");
        goto done;
    }
    patient_id = sqlite3_column_int64(st, 0);
    has_dept = sqlite3_column_type(st, 1) != SQLITE_NULL;
    col_copy(st, 1, dept, sizeof dept);
    doctor_id = sqlite3_column_int64(st, 2);
    has_start = sqlite3_column_type(st, 3) != SQLITE_NULL;
    starts = col_u64(st, 3);
    col_copy(st, 4, place, sizeof place);
    col_copy(st, 5, status, sizeof status);
    sqlite3_finalize(st);
    st = NULL;
    /* Who may change what. */
    if (!strcmp(actor->role, "patient")) {
        if (patient_id != actor->id) {
            WHY("no such appointment");
            rc = MV_ERR_NOT_FOUND;
            goto done;
        }
        if (fields || !c->status || strcmp(c->status, "cancelled") != 0) {
            WHY("a patient may only cancel their appointment");
            rc = MV_ERR_FORBIDDEN;
            goto done;
        }
    } else if (!strcmp(actor->role, "doctor")) {
        if (doctor_id != actor->id) {
            int visible = has_dept && has_department(actor, dept);
            WHY(visible ? "only the appointment's doctor may change it" : "no such appointment");
            rc = visible ? MV_ERR_FORBIDDEN : MV_ERR_NOT_FOUND;
            goto done;
        }
        if (fields || !c->status || (strcmp(c->status, "checked_in") != 0 && strcmp(c->status, "completed") != 0)) {
            WHY("the doctor may only set status checked_in or completed");
            rc = MV_ERR_FORBIDDEN;
            goto done;
        }
    } else if (strcmp(actor->role, "admin") != 0) {
        rc = MV_ERR_FORBIDDEN;
        goto done;
    }
    if (c->reason) {
        WHY("the reason is given when the appointment is requested");
        rc = MV_ERR_INVAL;
        goto done;
    }
    if (fields && (!strcmp(status, "completed") || !strcmp(status, "cancelled"))) {
        WHY("a completed or cancelled appointment cannot change");
        rc = MV_ERR_BAD_STATE;
        goto done;
    }
    /* Merge, then check the assignment as a whole. */
    if (c->department) {
        snprintf(dept, sizeof dept, "%s", c->department);
        has_dept = 1;
        if (strlen(c->department) >= sizeof dept) {
            WHY("department names are 1-63 characters of [A-Za-z0-9 _.-]");
            rc = MV_ERR_INVAL;
            goto done;
        }
    }
    if (c->set_starts_at) {
        has_start = 1;
        starts = c->starts_at;
    }
    if (c->place)
        snprintf(place, sizeof place, "%s", c->place);
    if (fields && (rc = check_assignment(r, has_dept ? dept : NULL, c->doctor, c->doctor ? 0 : doctor_id, &doctor_id,
                                         why)) != MV_OK)
        goto done;
    int complete = has_dept && doctor_id && has_start && place[0];
    char next[16];
    snprintf(next, sizeof next, "%s", c->status ? c->status : status);
    if (strcmp(next, status) != 0 && !registry_appt_transition_ok(status, next)) {
        WHY("this status change is not allowed (requested -> booked -> checked_in -> completed; cancel before "
            "completion)");
        rc = MV_ERR_BAD_STATE;
        goto done;
    }
    if (!strcmp(next, "requested") && complete)
        snprintf(next, sizeof next, "booked");
    if (!strcmp(next, "booked") && !complete) {
        WHY("booking needs a department, a doctor, a time and a place");
        rc = MV_ERR_BAD_STATE;
        goto done;
    }
    if ((rc = prep(r,
                   "UPDATE appointments SET department = ?2, doctor_id = ?3, starts_at = ?4, place = ?5, status = ?6, "
                   "updated_at = ?7 WHERE id = ?1",
                   &st)) != MV_OK)
        goto done;
    bind_text(st, 1, id);
    bind_text(st, 2, has_dept ? dept : NULL);
    if (doctor_id)
        sqlite3_bind_int64(st, 3, doctor_id);
    else
        sqlite3_bind_null(st, 3);
    if (has_start)
        bind_u64(st, 4, starts);
    else
        sqlite3_bind_null(st, 4);
    bind_text(st, 5, place);
    bind_text(st, 6, next);
    bind_u64(st, 7, now);
    rc = step_done(r, st, "update appointment");
    if (rc == MV_OK)
        rc = appt_event(r, id, actor->id, next, now);
done:
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_appt_json(registry *r, const registry_user *viewer, const char *id, mv_buf *b)
{
    sqlite3_stmt *st = NULL;
    if (!r || !viewer || !b)
        return MV_ERR_INVAL;
    if (!appt_id_ok(id))
        return MV_ERR_NOT_FOUND;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r, APPT_SELECT "WHERE " APPT_VISIBLE "AND a.id = ?3", &st);
    if (rc == MV_OK) {
        bind_text(st, 1, viewer->role);
        sqlite3_bind_int64(st, 2, viewer->id);
        bind_text(st, 3, id);
        if ((rc = step_row(r, st, "appointment")) == MV_OK)
            rc = appt_row_json(b, st);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_appt_list_json(registry *r, const registry_user *viewer, const registry_appt_filter *f, mv_buf *b)
{
    sqlite3_stmt *st = NULL;
    if (!r || !viewer || !f || !b)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     APPT_SELECT "WHERE " APPT_VISIBLE "AND (?3 = 0 OR a.doctor_id = ?3) AND (?4 = 0 OR "
                                 "a.patient_id = ?4) AND (?5 IS NULL OR a.department = ?5) AND (?6 IS NULL OR "
                                 "a.status = ?6) ORDER BY a.starts_at IS NULL, a.starts_at, a.created_at, a.id",
                     &st);
    if (rc == MV_OK) {
        bind_text(st, 1, viewer->role);
        sqlite3_bind_int64(st, 2, viewer->id);
        sqlite3_bind_int64(st, 3, f->doctor_id);
        sqlite3_bind_int64(st, 4, f->patient_id);
        bind_text(st, 5, f->department);
        bind_text(st, 6, f->status);
        rc = mv_buf_puts(b, "{\"appointments\":[");
        int s = SQLITE_DONE, first = 1;
        while (rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
            if ((!first && (rc = mv_buf_puts(b, ",")) != MV_OK) || (rc = appt_row_json(b, st)) != MV_OK)
                break;
            first = 0;
        }
        if (rc == MV_OK && s != SQLITE_DONE)
            rc = db_err(r, s, "appointments");
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "]}");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---------- delegations ---------- */

mv_err registry_delegation_add(registry *r, const registry_user *caller, mv_delegation *d,
                               const uint8_t hospital_pk[32], const uint8_t hospital_sk[64], uint64_t now,
                               int64_t *id_out, const char **why)
{
    sqlite3_stmt *st = NULL;
    registry_user me, doc;
    char appt[33], dept[MV_CRED_MAX_DEPT_LEN + 1] = "", status[16] = "";
    uint8_t blob[MV_DELEGATION_MAX_BYTES];
    size_t blen = 0;
    int64_t patient_id = 0, doctor_id = 0;
    if (!r || !caller || !d || !hospital_pk || !hospital_sk || !id_out)
        return MV_ERR_INVAL;
    if (strcmp(caller->role, "patient") != 0) {
        WHY("only the patient signs a delegation");
        return MV_ERR_FORBIDDEN;
    }
    if (!mv_ct_eq(d->patient, caller->sign_pk, 32)) {
        WHY("the delegation must name the caller as the patient");
        return MV_ERR_FORBIDDEN;
    }
    if (d->expires_at <= d->issued_at || d->expires_at - d->issued_at > REGISTRY_DELEGATION_MAX_SECONDS ||
        d->expires_at <= now) {
        WHY("a delegation lasts at most 90 days and must not have expired");
        return MV_ERR_INVAL;
    }
    if (mv_delegation_verify_patient(d) != MV_OK) {
        WHY("the patient's signature on the delegation does not verify");
        return MV_ERR_INVAL;
    }
    if (mv_hex_encode(appt, sizeof appt, d->appointment, 16) != MV_OK)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc != MV_OK)
        goto done;
    if ((rc = user_by_pk(r, caller->sign_pk, &me)) != MV_OK || strcmp(me.status, "active") != 0) {
        WHY("the patient is not active");
        rc = rc == MV_OK || rc == MV_ERR_NOT_FOUND ? MV_ERR_FORBIDDEN : rc;
        goto done;
    }
    if ((rc = prep(r, "SELECT patient_id, IFNULL(doctor_id, 0), IFNULL(department, ''), status FROM appointments "
                      "WHERE id = ?1",
                   &st)) != MV_OK)
        goto done;
    bind_text(st, 1, appt);
    if ((rc = step_row(r, st, "appointment")) != MV_OK) {
        if (rc == MV_ERR_NOT_FOUND)
            WHY("no such appointment");
        goto done;
    }
    patient_id = sqlite3_column_int64(st, 0);
    doctor_id = sqlite3_column_int64(st, 1);
    col_copy(st, 2, dept, sizeof dept);
    col_copy(st, 3, status, sizeof status);
    sqlite3_finalize(st);
    st = NULL;
    if (patient_id != me.id) {
        WHY("the appointment is not the caller's");
        rc = MV_ERR_FORBIDDEN;
        goto done;
    }
    if (strcmp(status, "booked") != 0 && strcmp(status, "checked_in") != 0) {
        WHY("a delegation is given for a booked or checked-in appointment");
        rc = MV_ERR_BAD_STATE;
        goto done;
    }
    if (!doctor_id || (rc = user_by_id(r, doctor_id, &doc)) != MV_OK || !mv_ct_eq(doc.sign_pk, d->doctor, 32) ||
        strcmp(doc.status, "active") != 0) {
        WHY("the delegation must name the appointment's doctor, who must be active");
        rc = rc == MV_OK || rc == MV_ERR_NOT_FOUND ? MV_ERR_FORBIDDEN : rc;
        goto done;
    }
    if (strcmp(dept, d->department) != 0) {
        WHY("the delegation must name the appointment's department");
        rc = MV_ERR_INVAL;
        goto done;
    }
    rc = mv_delegation_countersign(d, hospital_pk, hospital_sk);
    if (rc == MV_ERR_AUTH) {
        WHY("the patient's signature on the delegation does not verify");
        rc = MV_ERR_INVAL;
    }
    if (rc != MV_OK || (rc = mv_delegation_encode(d, blob, sizeof blob, &blen)) != MV_OK)
        goto done;
    if ((rc = prep(r,
                   "INSERT INTO delegations (appointment_id, patient_id, doctor_id, department, issued_at, expires_at, "
                   "blob) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                   &st)) != MV_OK)
        goto done;
    bind_text(st, 1, appt);
    sqlite3_bind_int64(st, 2, me.id);
    sqlite3_bind_int64(st, 3, doctor_id);
    bind_text(st, 4, dept);
    bind_u64(st, 5, d->issued_at);
    bind_u64(st, 6, d->expires_at);
    sqlite3_bind_blob(st, 7, blob, (int)blen, SQLITE_TRANSIENT);
    if ((rc = step_done(r, st, "insert delegation")) == MV_OK)
        *id_out = sqlite3_last_insert_rowid(r->db);
done:
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* Appends the base64 of a BLOB column as a JSON string. */
static mv_err put_blob_b64(mv_buf *b, const char *key, sqlite3_stmt *st, int i)
{
    char b64[MV_DELEGATION_B64_MAX];
    const void *p = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    if (n < 0 || (size_t)n > MV_DELEGATION_MAX_BYTES || (n > 0 && !p) ||
        mv_b64_encode(b64, sizeof b64, p, (size_t)n) != MV_OK)
        return MV_ERR_IO;
    return put_str(b, key, b64);
}

mv_err registry_delegations_json(registry *r, const registry_user *viewer, int64_t patient_id, mv_buf *b)
{
    sqlite3_stmt *st = NULL;
    if (!r || !viewer || !b)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT g.id, g.appointment_id, p.name, IFNULL(p.mrn, ''), p.sign_pk, d.name, d.sign_pk, "
                     "g.department, g.issued_at, g.expires_at, g.revoked_at IS NOT NULL, g.blob FROM delegations g "
                     "JOIN users p ON p.id = g.patient_id JOIN users d ON d.id = g.doctor_id WHERE (?1 = 'admin' OR "
                     "(?1 = 'doctor' AND g.doctor_id = ?2) OR (?1 = 'patient' AND g.patient_id = ?2)) AND (?3 = 0 OR "
                     "g.patient_id = ?3) ORDER BY g.id",
                     &st);
    if (rc == MV_OK) {
        bind_text(st, 1, viewer->role);
        sqlite3_bind_int64(st, 2, viewer->id);
        sqlite3_bind_int64(st, 3, patient_id);
        rc = mv_buf_puts(b, "{\"delegations\":[");
        int s = SQLITE_DONE, first = 1;
        while (rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
            if ((!first && (rc = mv_buf_puts(b, ",")) != MV_OK) ||
                (rc = put_u64(b, "{\"id\":", col_u64(st, 0))) != MV_OK ||
                (rc = put_col(b, ",\"appointment\":", st, 1)) != MV_OK ||
                (rc = put_col(b, ",\"patient\":{\"name\":", st, 2)) != MV_OK ||
                (rc = put_col(b, ",\"mrn\":", st, 3)) != MV_OK ||
                (rc = put_col(b, ",\"sign_public_key\":", st, 4)) != MV_OK ||
                (rc = put_col(b, "},\"doctor\":{\"name\":", st, 5)) != MV_OK ||
                (rc = put_col(b, ",\"sign_public_key\":", st, 6)) != MV_OK ||
                (rc = put_col(b, "},\"department\":", st, 7)) != MV_OK ||
                (rc = put_u64(b, ",\"issued_at\":", col_u64(st, 8))) != MV_OK ||
                (rc = put_u64(b, ",\"expires_at\":", col_u64(st, 9))) != MV_OK ||
                (rc = mv_buf_puts(b, sqlite3_column_int(st, 10) ? ",\"revoked\":true" : ",\"revoked\":false")) !=
                    MV_OK ||
                (rc = put_blob_b64(b, ",\"delegation\":", st, 11)) != MV_OK || (rc = mv_buf_puts(b, "}")) != MV_OK)
                break;
            first = 0;
        }
        if (rc == MV_OK && s != SQLITE_DONE)
            rc = db_err(r, s, "delegations");
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "]}");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_delegation_revoke(registry *r, const registry_user *viewer, int64_t id, uint64_t now, const char **why)
{
    sqlite3_stmt *st = NULL;
    if (!r || !viewer)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK && (rc = prep(r, "SELECT patient_id FROM delegations WHERE id = ?1", &st)) == MV_OK) {
        sqlite3_bind_int64(st, 1, id);
        if ((rc = step_row(r, st, "delegation")) == MV_ERR_NOT_FOUND)
            WHY("no such delegation");
        if (rc == MV_OK && strcmp(viewer->role, "admin") != 0 && sqlite3_column_int64(st, 0) != viewer->id) {
            WHY("only the delegation's patient or an admin may revoke it");
            rc = MV_ERR_FORBIDDEN;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK &&
        (rc = prep(r, "UPDATE delegations SET revoked_at = IFNULL(revoked_at, ?2) WHERE id = ?1", &st)) == MV_OK) {
        sqlite3_bind_int64(st, 1, id);
        bind_u64(st, 2, now);
        rc = step_done(r, st, "revoke delegation");
    }
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_patient_json(registry *r, const registry_user *viewer, const char *mrn, uint64_t now, mv_buf *b)
{
    sqlite3_stmt *st = NULL;
    registry_user p;
    if (!r || !viewer || !mrn || !b)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = exec_fixed(r, "BEGIN");
    if (rc == MV_OK && (rc = user_by_mrn(r, mrn, &p)) == MV_OK && strcmp(p.role, "patient") != 0)
        rc = MV_ERR_NOT_FOUND;
    if (rc != MV_OK)
        goto done;
    if ((rc = put_str(b, "{\"registered\":true,\"mrn\":", p.mrn)) != MV_OK ||
        (rc = put_str(b, ",\"name\":", p.name)) != MV_OK || (rc = mv_buf_puts(b, ",\"sign_public_key\":")) != MV_OK ||
        (rc = mv_json_write_hex(b, p.sign_pk, 32)) != MV_OK || (rc = mv_buf_puts(b, ",\"box_public_key\":")) != MV_OK ||
        (rc = mv_json_write_hex(b, p.box_pk, 32)) != MV_OK || (rc = put_str(b, ",\"status\":", p.status)) != MV_OK)
        goto done;
    if ((rc = prep(r,
                   "SELECT blob, appointment_id FROM delegations WHERE patient_id = ?1 AND doctor_id = ?2 AND "
                   "revoked_at IS NULL AND expires_at > ?3 ORDER BY issued_at DESC, id DESC LIMIT 1",
                   &st)) != MV_OK)
        goto done;
    sqlite3_bind_int64(st, 1, p.id);
    sqlite3_bind_int64(st, 2, viewer->id);
    bind_u64(st, 3, now);
    rc = step_row(r, st, "delegation");
    if (rc == MV_OK) {
        if ((rc = put_blob_b64(b, ",\"delegation\":", st, 0)) == MV_OK)
            rc = put_col(b, ",\"appointment\":", st, 1);
    } else if (rc == MV_ERR_NOT_FOUND) {
        rc = mv_buf_puts(b, ",\"delegation\":null,\"appointment\":null");
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(b, "}");
done:
    sqlite3_finalize(st);
    mv_err end = tx_end(r, MV_OK);
    pthread_mutex_unlock(&r->lock);
    return rc != MV_OK ? rc : end;
}

/* ---------- formulary and alerts ---------- */

#define MED_COLS "id, name, form, strength, dosage, code, updated_at"

static mv_err med_row_json(mv_buf *b, sqlite3_stmt *st)
{
    mv_err rc;
    if ((rc = put_u64(b, "{\"id\":", col_u64(st, 0))) != MV_OK || (rc = put_col(b, ",\"name\":", st, 1)) != MV_OK ||
        (rc = put_col(b, ",\"form\":", st, 2)) != MV_OK || (rc = put_col(b, ",\"strength\":", st, 3)) != MV_OK ||
        (rc = put_col(b, ",\"dosage\":", st, 4)) != MV_OK || (rc = put_col(b, ",\"code\":", st, 5)) != MV_OK ||
        (rc = put_u64(b, ",\"updated_at\":", col_u64(st, 6))) != MV_OK)
        return rc;
    return mv_buf_puts(b, "}");
}

mv_err registry_medicines_json(registry *r, const char *q, mv_buf *b)
{
    sqlite3_stmt *st = NULL;
    char pat[2 * LIKE_MAX + 4];
    if (!r || !b || (q && strlen(q) > LIKE_MAX))
        return MV_ERR_INVAL;
    if (q && q[0] && like_pattern(q, pat, sizeof pat) != MV_OK)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT " MED_COLS " FROM medicines WHERE (?1 IS NULL OR name LIKE ?1 ESCAPE '\\') "
                     "ORDER BY name, form, strength",
                     &st);
    if (rc == MV_OK) {
        bind_text(st, 1, q && q[0] ? pat : NULL);
        rc = mv_buf_puts(b, "{\"medicines\":[");
        int s = SQLITE_DONE, first = 1;
        while (rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
            if ((!first && (rc = mv_buf_puts(b, ",")) != MV_OK) || (rc = med_row_json(b, st)) != MV_OK)
                break;
            first = 0;
        }
        if (rc == MV_OK && s != SQLITE_DONE)
            rc = db_err(r, s, "medicines");
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "]}");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static int len_between(const char *s, size_t lo, size_t hi)
{
    return s && strlen(s) >= lo && registry_text_ok(s, hi);
}

mv_err registry_medicine_put(registry *r, int64_t actor_id, const char *name, const char *form, const char *strength,
                             const char *dosage, const char *code, uint64_t now, int *created, mv_buf *b,
                             const char **why)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    if (!r || !created)
        return MV_ERR_INVAL;
    if (!len_between(name, 1, 128) || !len_between(form, 1, 64) || !len_between(strength, 1, 64) ||
        !len_between(dosage, 1, 256) || !registry_text_ok(code, 64)) {
        WHY("name (1-128), form (1-64), strength (1-64) and dosage (1-256) are required printable text; code at "
            "most 64");
        return MV_ERR_INVAL;
    }
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK &&
        (rc = prep(r, "SELECT id FROM medicines WHERE name = ?1 AND form = ?2 AND strength = ?3", &st)) == MV_OK) {
        bind_text(st, 1, name);
        bind_text(st, 2, form);
        bind_text(st, 3, strength);
        rc = step_row(r, st, "medicine");
        if (rc == MV_OK)
            id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK || rc == MV_ERR_NOT_FOUND) {
        *created = rc == MV_ERR_NOT_FOUND;
        rc = prep(r,
                  *created ? "INSERT INTO medicines (name, form, strength, dosage, code, updated_by, updated_at) "
                             "VALUES (?1, ?2, ?3, ?4, IFNULL(?5, ''), ?6, ?7)"
                           : "UPDATE medicines SET dosage = ?4, code = IFNULL(?5, code), updated_by = ?6, "
                             "updated_at = ?7 WHERE id = ?8 AND name = ?1 AND form = ?2 AND strength = ?3",
                  &st);
        if (rc == MV_OK) {
            bind_text(st, 1, name);
            bind_text(st, 2, form);
            bind_text(st, 3, strength);
            bind_text(st, 4, dosage);
            bind_text(st, 5, code);
            sqlite3_bind_int64(st, 6, actor_id);
            bind_u64(st, 7, now);
            if (!*created)
                sqlite3_bind_int64(st, 8, id);
            rc = step_done(r, st, "medicine");
            if (rc == MV_OK && *created)
                id = sqlite3_last_insert_rowid(r->db);
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK && b && (rc = prep(r, "SELECT " MED_COLS " FROM medicines WHERE id = ?1", &st)) == MV_OK) {
        sqlite3_bind_int64(st, 1, id);
        if ((rc = step_row(r, st, "medicine")) == MV_OK)
            rc = med_row_json(b, st);
    }
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_medicine_delete(registry *r, int64_t id)
{
    sqlite3_stmt *st = NULL;
    if (!r)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK && (rc = prep(r, "DELETE FROM medicines WHERE id = ?1", &st)) == MV_OK) {
        sqlite3_bind_int64(st, 1, id);
        if ((rc = step_done(r, st, "delete medicine")) == MV_OK && sqlite3_changes(r->db) == 0)
            rc = MV_ERR_NOT_FOUND;
    }
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_alerts_json(registry *r, size_t limit, mv_buf *b)
{
    sqlite3_stmt *st = NULL;
    if (!r || !b || limit == 0)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT id, at, source, kind, principal, address, object, reason, count, last_at, delivered_at "
                     "FROM alerts ORDER BY last_at DESC, id DESC LIMIT ?1",
                     &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
        rc = mv_buf_puts(b, "{\"alerts\":[");
        int s = SQLITE_DONE, first = 1;
        while (rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
            int delivered = sqlite3_column_type(st, 10) != SQLITE_NULL;
            if ((!first && (rc = mv_buf_puts(b, ",")) != MV_OK) ||
                (rc = put_u64(b, "{\"id\":", col_u64(st, 0))) != MV_OK ||
                (rc = put_u64(b, ",\"at\":", col_u64(st, 1))) != MV_OK ||
                (rc = put_col(b, ",\"source\":", st, 2)) != MV_OK || (rc = put_col(b, ",\"kind\":", st, 3)) != MV_OK ||
                (rc = put_col(b, ",\"principal\":", st, 4)) != MV_OK ||
                (rc = put_col(b, ",\"address\":", st, 5)) != MV_OK ||
                (rc = put_col(b, ",\"object\":", st, 6)) != MV_OK ||
                (rc = put_col(b, ",\"reason\":", st, 7)) != MV_OK ||
                (rc = put_u64(b, ",\"count\":", col_u64(st, 8))) != MV_OK ||
                (rc = put_u64(b, ",\"last_at\":", col_u64(st, 9))) != MV_OK ||
                (rc = mv_buf_puts(b, delivered ? ",\"delivered\":true" : ",\"delivered\":false")) != MV_OK ||
                (rc = delivered ? put_u64(b, ",\"delivered_at\":", col_u64(st, 10))
                                : mv_buf_puts(b, ",\"delivered_at\":null")) != MV_OK ||
                (rc = mv_buf_puts(b, "}")) != MV_OK)
                break;
            first = 0;
        }
        if (rc == MV_OK && s != SQLITE_DONE)
            rc = db_err(r, s, "alerts");
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "]}");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---------- alert aggregation ---------- */

/* 1 if s is NUL-terminated within cap and printable ASCII (alerts are single safe lines). */
static int alert_field_ok(const char *s, size_t cap, int required)
{
    size_t n = strnlen(s, cap);
    if (n == cap || (required && n == 0))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] >= 0x7f)
            return 0;
    return 1;
}

mv_err registry_alert_record(registry *r, const registry_alert *a, uint64_t n, uint64_t now, uint64_t window_s,
                             int64_t *id_out, int *created)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    if (!r || !a || !id_out || !created || n == 0 || n > INT32_MAX || !alert_field_ok(a->source, sizeof a->source, 1) ||
        !alert_field_ok(a->kind, sizeof a->kind, 1) || !alert_field_ok(a->principal, sizeof a->principal, 0) ||
        !alert_field_ok(a->address, sizeof a->address, 0) || !alert_field_ok(a->object, sizeof a->object, 0) ||
        !alert_field_ok(a->reason, sizeof a->reason, 0))
        return MV_ERR_INVAL;
    *created = 0;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK && (rc = prep(r,
                                  "SELECT id FROM alerts WHERE kind = ?1 AND source = ?2 AND principal = ?3 AND "
                                  "address = ?4 AND reason = ?5 AND last_at > ?6 ORDER BY last_at DESC LIMIT 1",
                                  &st)) == MV_OK) {
        bind_text(st, 1, a->kind);
        bind_text(st, 2, a->source);
        bind_text(st, 3, a->principal);
        bind_text(st, 4, a->address);
        bind_text(st, 5, a->reason);
        sqlite3_bind_int64(st, 6, now > window_s ? (sqlite3_int64)(now - window_s) : 0);
        rc = step_row(r, st, "alert key");
        if (rc == MV_OK)
            id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK) {
        if ((rc = prep(r, "UPDATE alerts SET count = MIN(count + ?1, 9000000000000000000), last_at = ?2, "
                          "object = ?3 WHERE id = ?4",
                       &st)) == MV_OK) {
            bind_u64(st, 1, n);
            bind_u64(st, 2, now);
            bind_text(st, 3, a->object);
            sqlite3_bind_int64(st, 4, id);
            rc = step_done(r, st, "alert count");
        }
    } else if (rc == MV_ERR_NOT_FOUND) {
        *created = 1;
        if ((rc = prep(r, "INSERT INTO alerts (at, source, kind, principal, address, object, reason, count, last_at) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                       &st)) == MV_OK) {
            bind_u64(st, 1, a->at);
            bind_text(st, 2, a->source);
            bind_text(st, 3, a->kind);
            bind_text(st, 4, a->principal);
            bind_text(st, 5, a->address);
            bind_text(st, 6, a->object);
            bind_text(st, 7, a->reason);
            bind_u64(st, 8, n);
            bind_u64(st, 9, now);
            if ((rc = step_done(r, st, "alert insert")) == MV_OK)
                id = sqlite3_last_insert_rowid(r->db);
        }
    }
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    if (rc == MV_OK)
        *id_out = id;
    else
        *created = 0;
    return rc;
}

mv_err registry_alerts_undelivered(registry *r, registry_alert *out, size_t max, size_t *n)
{
    sqlite3_stmt *st = NULL;
    if (!r || !out || !n || max == 0)
        return MV_ERR_INVAL;
    *n = 0;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT id, at, source, kind, principal, address, object, reason, count, last_at FROM alerts "
                     "WHERE delivered_at IS NULL ORDER BY id LIMIT ?1",
                     &st);
    if (rc == MV_OK) {
        int s;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
        while ((s = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
            registry_alert *a = &out[(*n)++];
            memset(a, 0, sizeof *a);
            a->id = sqlite3_column_int64(st, 0);
            a->at = col_u64(st, 1);
            col_copy(st, 2, a->source, sizeof a->source);
            col_copy(st, 3, a->kind, sizeof a->kind);
            col_copy(st, 4, a->principal, sizeof a->principal);
            col_copy(st, 5, a->address, sizeof a->address);
            col_copy(st, 6, a->object, sizeof a->object);
            col_copy(st, 7, a->reason, sizeof a->reason);
            a->count = col_u64(st, 8);
            a->last_at = col_u64(st, 9);
        }
        if (s != SQLITE_DONE && s != SQLITE_ROW)
            rc = db_err(r, s, "undelivered alerts");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_alert_delivered(registry *r, int64_t id, uint64_t now)
{
    sqlite3_stmt *st = NULL;
    if (!r)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK &&
        (rc = prep(r, "UPDATE alerts SET delivered_at = ?1 WHERE id = ?2 AND delivered_at IS NULL", &st)) == MV_OK) {
        bind_u64(st, 1, now);
        sqlite3_bind_int64(st, 2, id);
        if ((rc = step_done(r, st, "alert delivered")) == MV_OK && sqlite3_changes(r->db) == 0)
            rc = MV_ERR_NOT_FOUND;
    }
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---------- device keys and step-up ---------- */

mv_err registry_device_add(registry *r, const uint8_t user_pk[32], const uint8_t device_pk[32], const char *name,
                           uint64_t now, const char **why)
{
    sqlite3_stmt *st = NULL;
    registry_user *u = NULL;
    if (!r || !user_pk || !device_pk)
        return MV_ERR_INVAL;
    if (!registry_text_ok(name, 128)) {
        WHY("name must be at most 128 bytes of text");
        return MV_ERR_INVAL;
    }
    if (!(u = mv_calloc(1, sizeof *u)))
        return MV_ERR_NOMEM;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK && (rc = user_by_pk(r, user_pk, u)) == MV_ERR_NOT_FOUND)
        WHY("no such user");
    if (rc == MV_OK && (rc = prep(r, "SELECT count(*) FROM devices WHERE user_id = ?1", &st)) == MV_OK) {
        sqlite3_bind_int64(st, 1, u->id);
        if ((rc = step_row(r, st, "devices")) == MV_OK && col_u64(st, 0) >= REGISTRY_MAX_DEVICES) {
            WHY("the user already has the maximum number of devices");
            rc = MV_ERR_RATE_LIMITED;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK && (rc = prep(r, "SELECT 1 FROM devices WHERE device_pk = ?1", &st)) == MV_OK) {
        bind_hex(st, 1, device_pk, 32);
        rc = step_row(r, st, "devices");
        if (rc == MV_OK) {
            WHY("this device key is already registered");
            rc = MV_ERR_EXISTS;
        } else if (rc == MV_ERR_NOT_FOUND) {
            rc = MV_OK;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK &&
        (rc = prep(r, "INSERT INTO devices (user_id, device_pk, name, added_at) VALUES (?1, ?2, IFNULL(?3, ''), ?4)",
                   &st)) == MV_OK) {
        sqlite3_bind_int64(st, 1, u->id);
        bind_hex(st, 2, device_pk, 32);
        bind_text(st, 3, name);
        bind_u64(st, 4, now);
        rc = step_done(r, st, "device insert");
    }
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    mv_free(u);
    return rc;
}

mv_err registry_devices_json(registry *r, const uint8_t user_pk[32], mv_buf *b)
{
    sqlite3_stmt *st = NULL;
    registry_user *u = NULL;
    if (!r || !user_pk || !b)
        return MV_ERR_INVAL;
    if (!(u = mv_calloc(1, sizeof *u)))
        return MV_ERR_NOMEM;
    pthread_mutex_lock(&r->lock);
    mv_err rc = user_by_pk(r, user_pk, u);
    if (rc == MV_OK &&
        (rc = prep(r, "SELECT device_pk, name, added_at FROM devices WHERE user_id = ?1 ORDER BY id", &st)) == MV_OK) {
        sqlite3_bind_int64(st, 1, u->id);
        rc = mv_buf_puts(b, "{\"devices\":[");
        int s = SQLITE_DONE, first = 1;
        while (rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
            if ((!first && (rc = mv_buf_puts(b, ",")) != MV_OK) || (rc = put_col(b, "{\"device_pk\":", st, 0)) != MV_OK ||
                (rc = put_col(b, ",\"name\":", st, 1)) != MV_OK ||
                (rc = put_u64(b, ",\"added_at\":", col_u64(st, 2))) != MV_OK || (rc = mv_buf_puts(b, "}")) != MV_OK)
                break;
            first = 0;
        }
        if (rc == MV_OK && s != SQLITE_DONE)
            rc = db_err(r, s, "devices");
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "]}");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    mv_free(u);
    return rc;
}

mv_err registry_device_check(registry *r, int64_t user_id, const uint8_t device_pk[32])
{
    sqlite3_stmt *st = NULL;
    if (!r || !device_pk)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r, "SELECT 1 FROM devices WHERE user_id = ?1 AND device_pk = ?2", &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, user_id);
        bind_hex(st, 2, device_pk, 32);
        rc = step_row(r, st, "device check");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_stepup_nonce_use(registry *r, const uint8_t device_pk[32], const uint8_t nonce[16], uint64_t expires_at,
                                 uint64_t now)
{
    sqlite3_stmt *st = NULL;
    if (!r || !device_pk || !nonce)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK && (rc = prep(r, "DELETE FROM stepup_nonces WHERE expires_at <= ?1", &st)) == MV_OK) {
        bind_u64(st, 1, now);
        rc = step_done(r, st, "nonce purge");
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK && (rc = prep(r, "SELECT 1 FROM stepup_nonces WHERE device_pk = ?1 AND nonce = ?2", &st)) == MV_OK) {
        bind_hex(st, 1, device_pk, 32);
        bind_hex(st, 2, nonce, 16);
        rc = step_row(r, st, "nonce");
        rc = rc == MV_OK ? MV_ERR_REPLAY : rc == MV_ERR_NOT_FOUND ? MV_OK : rc;
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK &&
        (rc = prep(r, "INSERT INTO stepup_nonces (device_pk, nonce, expires_at) VALUES (?1, ?2, ?3)", &st)) == MV_OK) {
        bind_hex(st, 1, device_pk, 32);
        bind_hex(st, 2, nonce, 16);
        bind_u64(st, 3, expires_at);
        rc = step_done(r, st, "nonce insert");
    }
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_stepup_request(registry *r, int64_t user_id, uint64_t now, int64_t *id_out, const char **why)
{
    sqlite3_stmt *st = NULL;
    if (!r || !id_out)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK && (rc = prep(r,
                                  "SELECT id FROM stepup_requests WHERE user_id = ?1 AND status = 'pending' "
                                  "ORDER BY id DESC LIMIT 1",
                                  &st)) == MV_OK) {
        sqlite3_bind_int64(st, 1, user_id);
        if ((rc = step_row(r, st, "stepup request")) == MV_OK)
            *id_out = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_ERR_NOT_FOUND &&
        (rc = prep(r, "SELECT count(*) FROM stepup_requests WHERE status = 'pending'", &st)) == MV_OK) {
        if ((rc = step_row(r, st, "stepup pending")) == MV_OK && col_u64(st, 0) >= REGISTRY_MAX_STEPUP_PENDING) {
            WHY("too many step-up requests await an admin; retry later");
            rc = MV_ERR_RATE_LIMITED;
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc == MV_OK &&
            (rc = prep(r, "INSERT INTO stepup_requests (user_id, created_at) VALUES (?1, ?2)", &st)) == MV_OK) {
            sqlite3_bind_int64(st, 1, user_id);
            bind_u64(st, 2, now);
            if ((rc = step_done(r, st, "stepup insert")) == MV_OK)
                *id_out = sqlite3_last_insert_rowid(r->db);
        }
    }
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_stepup_get(registry *r, int64_t id, registry_stepup *out)
{
    sqlite3_stmt *st = NULL;
    if (!r || !out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT s.id, s.user_id, u.sign_pk, s.created_at, s.status, IFNULL(s.grant_b64, '') "
                     "FROM stepup_requests s JOIN users u ON u.id = s.user_id WHERE s.id = ?1",
                     &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, id);
        if ((rc = step_row(r, st, "stepup get")) == MV_OK) {
            const char *pk = col_str(st, 2);
            out->id = sqlite3_column_int64(st, 0);
            out->user_id = sqlite3_column_int64(st, 1);
            out->created_at = col_u64(st, 3);
            col_copy(st, 4, out->status, sizeof out->status);
            col_copy(st, 5, out->grant_b64, sizeof out->grant_b64);
            if (mv_hex_decode_exact(out->user_pk, 32, pk, strlen(pk)) != MV_OK)
                rc = MV_ERR_IO;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_stepup_decide(registry *r, int64_t id, int64_t admin_id, const char *grant_b64, uint64_t now,
                              const char **why)
{
    sqlite3_stmt *st = NULL;
    if (!r || (grant_b64 && strlen(grant_b64) >= sizeof ((registry_stepup *)0)->grant_b64))
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK && (rc = prep(r, "SELECT status FROM stepup_requests WHERE id = ?1", &st)) == MV_OK) {
        sqlite3_bind_int64(st, 1, id);
        if ((rc = step_row(r, st, "stepup decide")) == MV_OK && strcmp(col_str(st, 0), "pending") != 0) {
            WHY("this step-up request was already decided");
            rc = MV_ERR_BAD_STATE;
        } else if (rc == MV_ERR_NOT_FOUND) {
            WHY("no such step-up request");
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK && (rc = prep(r,
                                  "UPDATE stepup_requests SET status = ?1, decided_by = ?2, decided_at = ?3, "
                                  "grant_b64 = ?4 WHERE id = ?5 AND status = 'pending'",
                                  &st)) == MV_OK) {
        bind_text(st, 1, grant_b64 ? "approved" : "denied");
        sqlite3_bind_int64(st, 2, admin_id);
        bind_u64(st, 3, now);
        bind_text(st, 4, grant_b64);
        sqlite3_bind_int64(st, 5, id);
        rc = step_done(r, st, "stepup decide");
    }
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}
