/* registry_formulary.c - the formulary (medicines) and the alert log in the registry, with the
 * aggregation that folds repeated alerts into one row (split from registry.c). */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hospital/registry_internal.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

/* ---------- formulary and alerts ---------- */

#define MED_COLS "id, name, form, strength, dosage, code, updated_at"

static void med_row_json(mv_jw *w, sqlite3_stmt *st)
{
    mv_jw_obj(w);
    mv_jw_ku64(w, "id", col_u64(st, 0));
    mv_jw_kstr(w, "name", col_str(st, 1));
    mv_jw_kstr(w, "form", col_str(st, 2));
    mv_jw_kstr(w, "strength", col_str(st, 3));
    mv_jw_kstr(w, "dosage", col_str(st, 4));
    mv_jw_kstr(w, "code", col_str(st, 5));
    mv_jw_ku64(w, "updated_at", col_u64(st, 6));
    mv_jw_obj_end(w);
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
        rc = json_list(r, st, b, "medicines", med_row_json, "medicines");
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
        if ((rc = step_row(r, st, "medicine")) == MV_OK) {
            mv_jw w;
            mv_jw_init(&w, b);
            med_row_json(&w, st);
            rc = mv_jw_finish(&w);
        }
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

/* One element of registry_alerts_json. */
static mv_err alert_json(void *ctx, const registry_alert_row *row)
{
    mv_jw *w = ctx;
    mv_jw_obj(w);
    mv_jw_ku64(w, "id", (uint64_t)row->id);
    mv_jw_ku64(w, "at", row->at);
    mv_jw_kstr(w, "source", row->source);
    mv_jw_kstr(w, "kind", row->kind);
    mv_jw_kstr(w, "principal", row->principal);
    mv_jw_kstr(w, "address", row->address);
    mv_jw_kstr(w, "object", row->object);
    mv_jw_kstr(w, "reason", row->reason);
    mv_jw_ku64(w, "count", row->count);
    mv_jw_ku64(w, "last_at", row->last_at);
    mv_jw_kbool(w, "delivered", row->delivered);
    if (row->delivered)
        mv_jw_ku64(w, "delivered_at", row->delivered_at);
    else
        mv_jw_knull(w, "delivered_at");
    mv_jw_obj_end(w);
    return w->rc;
}

mv_err registry_alerts_json(registry *r, size_t limit, mv_buf *b)
{
    mv_jw w;
    if (!r || !b || limit == 0)
        return MV_ERR_INVAL;
    mv_jw_init(&w, b);
    mv_jw_obj(&w);
    mv_jw_key(&w, "alerts");
    mv_jw_arr(&w);
    if (w.rc == MV_OK)
        w.rc = registry_alert_rows(r, limit, alert_json, &w);
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
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
