/* registry.c - the hospital registry in SQLite: every change is one transaction built from
 * prepared statements with bound parameters (no SQL is ever assembled from input), so a bad
 * request changes nothing and no input can alter a query. */
#include "hospital/registry.h"

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

/* The credential codec names the roles; the registry narrows them to its users. */
registry_role registry_role_of(const char *s)
{
    mv_role r = mv_role_of(s);
    return (r & REGISTRY_ROLES_ANY) ? r : REGISTRY_ROLE_NONE;
}

const char *registry_role_name(registry_role role)
{
    return (role & ~REGISTRY_ROLES_ANY) ? "" : mv_role_name(role);
}

static int status_ok(const char *s)
{
    return s && (!strcmp(s, "pending") || !strcmp(s, "active") || !strcmp(s, "suspended") || !strcmp(s, "revoked"));
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

#define USER_COLS                                                                                                      \
    "id, sign_pk, box_pk, name, role, status, IFNULL(mrn, ''), email, phone, about, registered_at, "                   \
    "IFNULL(pre_public_key, ''), IFNULL(pre_key_signature, '')"

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
    u->role = registry_role_of(col_str(st, 4));
    col_copy(st, 5, u->status, sizeof u->status);
    col_copy(st, 6, u->mrn, sizeof u->mrn);
    col_copy(st, 7, u->email, sizeof u->email);
    col_copy(st, 8, u->phone, sizeof u->phone);
    col_copy(st, 9, u->about, sizeof u->about);
    u->registered_at = col_u64(st, 10);
    const char *ppk = col_str(st, 11), *psig = col_str(st, 12);
    if (ppk[0]) {
        if (mv_hex_decode_exact(u->pre_pk, 32, ppk, strlen(ppk)) != MV_OK ||
            mv_hex_decode_exact(u->pre_sig, 64, psig, strlen(psig)) != MV_OK)
            return MV_ERR_IO;
        u->has_pre_key = 1;
    }
    return load_departments(r, u);
}

mv_err registry_user_by_pk(registry *r, const uint8_t pk[32], registry_user *u)
{
    sqlite3_stmt *st = NULL;
    mv_err rc = prep(r, "SELECT " USER_COLS " FROM users WHERE sign_pk = ?1", &st);
    if (rc == MV_OK && (rc = bind_hex(st, 1, pk, 32) == SQLITE_OK ? MV_OK : MV_ERR_INVAL) == MV_OK &&
        (rc = step_row(r, st, "user")) == MV_OK)
        rc = user_from_row(r, st, u);
    sqlite3_finalize(st);
    return rc;
}

mv_err registry_user_by_id(registry *r, int64_t id, registry_user *u)
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

mv_err registry_user_by_mrn(registry *r, const char *mrn, registry_user *u)
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
mv_err registry_user_insert(registry *r, const registry_new_user *nu, uint64_t registered_at, uint64_t now,
                            int64_t *id_out, const char **why)
{
    sqlite3_stmt *st = NULL;
    char mrn[16] = "";
    mv_err rc = MV_OK;
    const char *status = nu->status ? nu->status : "active";
    if (!registry_name_ok(nu->name) || registry_role_of(nu->role) == REGISTRY_ROLE_NONE || !status_ok(status) ||
        nu->n_departments > MV_CRED_MAX_DEPTS || (nu->n_departments && !nu->departments) ||
        !registry_text_ok(nu->email, REGISTRY_TEXT_MAX) || !registry_text_ok(nu->phone, REGISTRY_TEXT_MAX)) {
        WHY("invalid registration: role must be doctor, patient or admin, names are 1-128 printable bytes, "
            "email and phone at most 256 printable bytes, at most 16 departments");
        return MV_ERR_INVAL;
    }
    if (registry_role_of(nu->role) == REGISTRY_ROLE_DOCTOR && nu->n_departments == 0) {
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
    if (registry_role_of(nu->role) == REGISTRY_ROLE_PATIENT && (rc = next_mrn(r, mrn)) != MV_OK)
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
            rc = registry_import_legacy(r, dir, now);
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

/* Staff (doctors and admins) are known by name: the directory, delegations and alerts show
 * it, so a second active "dr-a" with another key would be indistinguishable from the first.
 * A new doctor or admin therefore needs a name no other staff member that is not revoked
 * holds (a revoked user stays revoked, so its name is free for the re-registration of a new
 * key). Patients may share a name: their MRN tells them apart. Checked here, inside the
 * insert's transaction, rather than by a UNIQUE index: registries from before this check
 * may already hold such duplicates, and must keep opening. Legacy imports are not checked
 * (registry_user_insert), for the same reason. MV_ERR_EXISTS if the name is taken. */
static mv_err staff_name_free(registry *r, const registry_new_user *nu, const char **why)
{
    sqlite3_stmt *st = NULL;
    int role = registry_role_of(nu->role);
    if ((role != REGISTRY_ROLE_DOCTOR && role != REGISTRY_ROLE_ADMIN) || !nu->name)
        return MV_OK;
    mv_err rc = prep(r,
                     "SELECT 1 FROM users WHERE role IN ('admin', 'doctor') AND name = ?1 AND status != 'revoked' "
                     "LIMIT 1",
                     &st);
    if (rc != MV_OK)
        return rc;
    bind_text(st, 1, nu->name);
    rc = step_row(r, st, "staff name");
    sqlite3_finalize(st);
    if (rc == MV_OK) {
        WHY("a doctor or admin of this name is already registered: staff names are unique (patients may share one)");
        return MV_ERR_EXISTS;
    }
    return rc == MV_ERR_NOT_FOUND ? MV_OK : rc;
}

mv_err registry_user_add(registry *r, const registry_new_user *nu, uint64_t now, uint64_t cred_issued,
                         uint64_t cred_expires, registry_user *out, const char **why)
{
    int64_t id = 0;
    if (!r || !nu)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK)
        rc = staff_name_free(r, nu, why);
    if (rc == MV_OK)
        rc = registry_user_insert(r, nu, now, now, &id, why);
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
        rc = registry_user_by_id(r, id, out);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_user_get(registry *r, const uint8_t pk[32], registry_user *out)
{
    if (!r || !pk || !out)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = registry_user_by_pk(r, pk, out);
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
    mv_err rc = registry_user_by_mrn(r, s, out);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_user_set_status(registry *r, const uint8_t pk[32], const char *status, uint64_t now,
                                registry_user *out, const char **why)
{
    return registry_user_set_status_groups(r, pk, status, now, NULL, NULL, out, why);
}

mv_err registry_user_set_status_groups(registry *r, const uint8_t pk[32], const char *status, uint64_t now,
                                       registry_epoch_fn fn, void *ctx, registry_user *out, const char **why)
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
    if (rc == MV_OK && (rc = registry_user_by_pk(r, pk, &u)) == MV_ERR_NOT_FOUND)
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
    /* A suspended or revoked user must lose her anonymous write access at once: the storage
     * server checks only the roster and the group's revocation list, never her status. */
    if (rc == MV_OK && (!strcmp(status, "suspended") || !strcmp(status, "revoked")))
        rc = registry_groups_drop_user(r, u.id, now, fn, ctx, why);
done:
    if (rc == MV_OK)
        rc = registry_user_by_pk(r, pk, out);
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

mv_err registry_pre_key_set(registry *r, int64_t user_id, const uint8_t pk[32], const uint8_t sig[64])
{
    sqlite3_stmt *st = NULL;
    if (!r || !pk || !sig)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r, "UPDATE users SET pre_public_key = ?1, pre_key_signature = ?2 WHERE id = ?3", &st);
    if (rc == MV_OK) {
        if (bind_hex(st, 1, pk, 32) != SQLITE_OK || bind_hex(st, 2, sig, 64) != SQLITE_OK)
            rc = MV_ERR_NOMEM;
        sqlite3_bind_int64(st, 3, user_id);
        if (rc == MV_OK && (rc = step_done(r, st, "pre key")) == MV_OK && sqlite3_changes(r->db) == 0)
            rc = MV_ERR_NOT_FOUND;
    }
    sqlite3_finalize(st);
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

/* u as the JSON API shows it (the contact fields only when private). */
void registry_user_jw(mv_jw *w, const registry_user *u, int private)
{
    mv_jw_obj(w);
    mv_jw_kstr(w, "name", u->name);
    mv_jw_kstr(w, "role", registry_role_name(u->role));
    mv_jw_key(w, "departments");
    mv_jw_arr(w);
    for (size_t i = 0; i < u->n_departments; i++)
        mv_jw_str(w, u->departments[i]);
    mv_jw_arr_end(w);
    mv_jw_khex(w, "sign_public_key", u->sign_pk, 32);
    mv_jw_khex(w, "box_public_key", u->box_pk, 32);
    mv_jw_kstr(w, "status", u->status);
    if (u->mrn[0])
        mv_jw_kstr(w, "mrn", u->mrn);
    mv_jw_ku64(w, "registered_at", u->registered_at);
    if (u->has_pre_key) {
        mv_jw_khex(w, "pre_public_key", u->pre_pk, 32);
        mv_jw_khex(w, "pre_key_signature", u->pre_sig, 64);
    }
    if (private) {
        mv_jw_kstr(w, "email", u->email);
        mv_jw_kstr(w, "phone", u->phone);
        mv_jw_kstr(w, "about", u->about);
    }
    mv_jw_obj_end(w);
}

mv_err registry_user_json(mv_buf *b, const registry_user *u, int private)
{
    mv_jw w;
    if (!b || !u)
        return MV_ERR_INVAL;
    mv_jw_init(&w, b);
    registry_user_jw(&w, u, private);
    return mv_jw_finish(&w);
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
        mv_jw w;
        int s = SQLITE_DONE;
        mv_jw_init(&w, b);
        mv_jw_obj(&w);
        mv_jw_key(&w, "users");
        mv_jw_arr(&w);
        while (w.rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW)
            if ((w.rc = user_from_row(r, st, &u)) == MV_OK)
                registry_user_jw(&w, &u, private);
        if (w.rc == MV_OK && s != SQLITE_DONE)
            w.rc = db_err(r, s, "directory");
        mv_jw_arr_end(&w);
        mv_jw_obj_end(&w);
        rc = mv_jw_finish(&w);
    }
    sqlite3_finalize(st);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---------- departments ---------- */

/* One element of registry_departments_json. */
static mv_err department_json(void *ctx, const registry_dept_row *row)
{
    mv_jw *w = ctx;
    mv_jw_obj(w);
    mv_jw_kstr(w, "name", row->name);
    mv_jw_kstr(w, "description", row->description);
    mv_jw_ku64(w, "doctors", row->doctors);
    mv_jw_ku64(w, "patients", row->patients);
    mv_jw_obj_end(w);
    return w->rc;
}

mv_err registry_departments_json(registry *r, mv_buf *b)
{
    mv_jw w;
    if (!r || !b)
        return MV_ERR_INVAL;
    mv_jw_init(&w, b);
    mv_jw_obj(&w);
    mv_jw_key(&w, "departments");
    mv_jw_arr(&w);
    if (w.rc == MV_OK)
        w.rc = registry_department_rows(r, 0, department_json, &w);
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
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
