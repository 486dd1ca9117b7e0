/* registry_internal.h - what the registry's source files share (internal to src/hospital): the
 * connection and its lock, and the SQLite plumbing every statement goes through. Only the
 * registry's own files include it: everything else speaks to the registry through registry.h.
 *
 * The helpers are static inline so that each registry file keeps the short names and none of
 * them becomes a symbol of the library. */
#ifndef MV_HOSPITAL_REGISTRY_INTERNAL_H
#define MV_HOSPITAL_REGISTRY_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "hospital/registry.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"

#define COMPONENT "hospital"
#define LIKE_MAX 128

struct registry {
    sqlite3 *db;
    pthread_mutex_t lock;
};

#define WHY(msg) (why ? (void)(*why = (msg)) : (void)0)

/* ---------- SQLite plumbing (all with r->lock held) ---------- */

static inline mv_err db_err(registry *r, int src, const char *what)
{
    switch (src & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        mv_log(MV_LOG_WARN, COMPONENT, "registry busy (%s)", what);
        return MV_ERR_BUSY;
    case SQLITE_NOMEM:
        return MV_ERR_NOMEM;
    default:
        /* SQLite's messages name tables and columns, never values. */
        mv_log(MV_LOG_ERROR, COMPONENT, "registry %s: %s", what, r && r->db ? sqlite3_errmsg(r->db) : "?");
        return MV_ERR_IO;
    }
}

static inline mv_err prep(registry *r, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(r->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? MV_OK : db_err(r, rc, "prepare");
}

static inline mv_err exec_fixed(registry *r, const char *sql)
{
    int rc = sqlite3_exec(r->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? MV_OK : db_err(r, rc, "exec");
}

static inline mv_err tx_begin(registry *r)
{
    return exec_fixed(r, "BEGIN IMMEDIATE");
}

/* Commits when rc is MV_OK, else rolls back; returns the outcome. */
static inline mv_err tx_end(registry *r, mv_err rc)
{
    if (rc == MV_OK)
        rc = exec_fixed(r, "COMMIT");
    if (rc != MV_OK && !sqlite3_get_autocommit(r->db))
        (void)sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static inline int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static inline int bind_hex(sqlite3_stmt *st, int i, const uint8_t *bin, size_t n)
{
    char hex[129];
    if (n > 64 || mv_hex_encode(hex, sizeof hex, bin, n) != MV_OK)
        return SQLITE_MISUSE;
    return sqlite3_bind_text(st, i, hex, (int)(2 * n), SQLITE_TRANSIENT);
}

static inline int bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
    return sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

static inline const char *col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static inline void col_copy(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    snprintf(out, cap, "%s", col_str(st, i));
}

static inline uint64_t col_u64(sqlite3_stmt *st, int i)
{
    sqlite3_int64 v = sqlite3_column_int64(st, i);
    return v < 0 ? 0 : (uint64_t)v;
}

/* Steps a statement expected to finish (no rows). */
static inline mv_err step_done(registry *r, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? MV_OK : db_err(r, rc, what);
}

/* Steps once: MV_OK with a row, MV_ERR_NOT_FOUND without, else a database error. */
static inline mv_err step_row(registry *r, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return MV_OK;
    return rc == SQLITE_DONE ? MV_ERR_NOT_FOUND : db_err(r, rc, what);
}

/* "%q%" with q's LIKE metacharacters escaped by '\' (queries use ESCAPE '\'). */
static inline mv_err like_pattern(const char *q, char *out, size_t cap)
{
    size_t o = 0;
    if (cap < 3)
        return MV_ERR_TOO_LARGE;
    out[o++] = '%';
    for (size_t i = 0; q[i]; i++) {
        if (o + 4 > cap)
            return MV_ERR_TOO_LARGE;
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\')
            out[o++] = '\\';
        out[o++] = q[i];
    }
    out[o++] = '%';
    out[o] = 0;
    return MV_OK;
}

/* ---------- JSON writing ---------- */

/* A row writer of json_list: one element of the array, from the current row of st. */
typedef void (*json_row_fn)(mv_jw *w, sqlite3_stmt *st);

/* Writes {"key":[...]} into b with one element per remaining row of st (prepared and bound),
 * each written by one; a database error ends the list and is returned. Caller holds r->lock
 * and finalizes st. */
static inline mv_err json_list(registry *r, sqlite3_stmt *st, mv_buf *b, const char *key, json_row_fn one,
                               const char *what)
{
    mv_jw w;
    int s = SQLITE_DONE;
    mv_jw_init(&w, b);
    mv_jw_obj(&w);
    mv_jw_key(&w, key);
    mv_jw_arr(&w);
    while (w.rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW)
        one(&w, st);
    if (w.rc == MV_OK && s != SQLITE_DONE)
        w.rc = db_err(r, s, what);
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
}

/* ---------- validation shared by the registry files ---------- */

static inline int appt_status_ok(const char *s)
{
    return s && (!strcmp(s, "requested") || !strcmp(s, "booked") || !strcmp(s, "checked_in") ||
                 !strcmp(s, "completed") || !strcmp(s, "cancelled"));
}

/* ---------- shared between the registry files (caller holds r->lock) ---------- */

/* The user with signing key pk, with id, or with MRN mrn (departments loaded). MV_ERR_NOT_FOUND
 * if none. */
mv_err registry_user_by_pk(registry *r, const uint8_t pk[32], registry_user *u) __attribute__((warn_unused_result));
mv_err registry_user_by_id(registry *r, int64_t id, registry_user *u) __attribute__((warn_unused_result));
mv_err registry_user_by_mrn(registry *r, const char *mrn, registry_user *u) __attribute__((warn_unused_result));
/* Inserts nu (validated by the caller) with its departments, creating those that are new;
 * *id_out (if not NULL) = its id. Inside the caller's transaction. */
mv_err registry_user_insert(registry *r, const registry_new_user *nu, uint64_t registered_at, uint64_t now,
                            int64_t *id_out, const char **why) __attribute__((warn_unused_result));
/* Marks user_id removed in every group she is invited to or a member of, as
 * registry_group_remove does (a new epoch through fn, and the next dedup generation, where she
 * had joined); logs 'remove' in each (registry_groups.c). MV_ERR_INVAL if an epoch is needed
 * and fn is NULL. Inside the caller's transaction. */
mv_err registry_groups_drop_user(registry *r, int64_t user_id, uint64_t now, registry_epoch_fn fn, void *ctx,
                                 const char **why) __attribute__((warn_unused_result));
/* Imports the legacy dir/users/<hex>.json registrations; run inside migration 0001's
 * transaction (registry_import.c). A malformed file is logged and skipped. */
mv_err registry_import_legacy(registry *r, const char *dir, uint64_t now) __attribute__((warn_unused_result));

#endif
