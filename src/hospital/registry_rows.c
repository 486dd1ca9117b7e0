/* registry_rows.c - the registry's listings for the admin dashboard: read-only statements with
 * bound parameters, each row handed to the caller under the registry's lock and forgotten when
 * the callback returns, so a page never holds a connection, a statement or a copy of a table. */
#include <stdint.h>

#include "hospital/registry_internal.h"

/* One listing: st prepared and bound (its last parameter, number limit_param, takes the
 * limit), one(st, fn, ctx) called per row until the rows end or it fails. Finalizes st.
 * Caller holds r->lock. */
typedef mv_err (*row_reader)(sqlite3_stmt *st, const void *fn, void *ctx);

static mv_err each_row(registry *r, sqlite3_stmt *st, int limit_param, size_t limit, row_reader one, const void *fn,
                       void *ctx, const char *what)
{
    /* A negative LIMIT is no limit in SQLite. */
    mv_err rc = bind_u64(st, limit_param, limit == 0 || limit > INT64_MAX ? (uint64_t)-1 : (uint64_t)limit) ==
                        SQLITE_OK
                    ? MV_OK
                    : db_err(r, SQLITE_MISUSE, what);
    int s = SQLITE_DONE;
    while (rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW)
        rc = one(st, fn, ctx);
    if (rc == MV_OK && s != SQLITE_DONE)
        rc = db_err(r, s, what);
    sqlite3_finalize(st);
    return rc;
}

/* A single integer of sql (no parameter, or one text parameter p). Caller holds r->lock. */
static mv_err count_of(registry *r, const char *sql, const char *p, uint64_t *out)
{
    sqlite3_stmt *st = NULL;
    mv_err rc = prep(r, sql, &st);
    if (rc == MV_OK && p && bind_text(st, 1, p) != SQLITE_OK)
        rc = db_err(r, SQLITE_MISUSE, "count");
    if (rc == MV_OK && (rc = step_row(r, st, "count")) == MV_OK)
        *out = col_u64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

mv_err registry_counts_get(registry *r, registry_counts *out)
{
    if (!r || !out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&r->lock);
    mv_err rc = count_of(r, "SELECT count(*) FROM departments", NULL, &out->departments);
    if (rc == MV_OK)
        rc = count_of(r, "SELECT count(*) FROM users WHERE role = 'doctor'", NULL, &out->doctors);
    if (rc == MV_OK)
        rc = count_of(r, "SELECT count(*) FROM users WHERE role = 'patient'", NULL, &out->patients);
    if (rc == MV_OK)
        rc = count_of(r, "SELECT count(*) FROM users WHERE status = 'pending'", NULL, &out->pending);
    if (rc == MV_OK)
        rc = count_of(r, "SELECT count(*) FROM medicines", NULL, &out->medicines);
    if (rc == MV_OK)
        rc = count_of(r, "SELECT count(*) FROM alerts", NULL, &out->alerts);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_appt_count(registry *r, const char *status, uint64_t *n)
{
    if (!r || !status || !n)
        return MV_ERR_INVAL;
    *n = 0;
    pthread_mutex_lock(&r->lock);
    mv_err rc = count_of(r, "SELECT count(*) FROM appointments WHERE status = ?1", status, n);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---------- departments ---------- */

static mv_err dept_one(sqlite3_stmt *st, const void *fn, void *ctx)
{
    const registry_dept_row row = {
        .name = col_str(st, 0),
        .description = col_str(st, 1),
        .doctors = col_u64(st, 2),
        .patients = col_u64(st, 3),
        .created_at = col_u64(st, 4),
    };
    return (*(const registry_dept_fn *)fn)(ctx, &row);
}

mv_err registry_department_rows(registry *r, size_t limit, registry_dept_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (!r || !fn)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT d.name, d.description,"
                     " (SELECT count(*) FROM user_departments ud JOIN users u ON u.id = ud.user_id"
                     "   WHERE ud.department = d.name AND u.role = 'doctor'),"
                     " (SELECT count(*) FROM user_departments ud JOIN users u ON u.id = ud.user_id"
                     "   WHERE ud.department = d.name AND u.role = 'patient'),"
                     " d.created_at FROM departments d ORDER BY d.name LIMIT ?1",
                     &st);
    if (rc == MV_OK)
        rc = each_row(r, st, 1, limit, dept_one, &fn, ctx, "departments");
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---------- users ---------- */

static mv_err user_one(sqlite3_stmt *st, const void *fn, void *ctx)
{
    const registry_user_row row = {
        .name = col_str(st, 0),
        .sign_pk = col_str(st, 1),
        .mrn = col_str(st, 2),
        .status = col_str(st, 3),
        .departments = col_str(st, 4),
        .first_department = col_str(st, 5),
        .registered_at = col_u64(st, 6),
    };
    return (*(const registry_user_fn *)fn)(ctx, &row);
}

mv_err registry_user_rows(registry *r, registry_role role, size_t limit, registry_user_fn fn, void *ctx)
{
#define USER_ROW_SQL(order)                                                                                         \
    "SELECT u.name, u.sign_pk, u.mrn, u.status, (SELECT group_concat(department, ', ') FROM (SELECT department"    \
    " FROM user_departments WHERE user_id = u.id ORDER BY department)), (SELECT min(department) FROM"              \
    " user_departments WHERE user_id = u.id), u.registered_at FROM users u WHERE u.role = ?1 ORDER BY " order       \
    ", u.id LIMIT ?2"
    sqlite3_stmt *st = NULL;
    if (!r || !fn || !registry_role_name(role)[0])
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r, role == REGISTRY_ROLE_PATIENT ? USER_ROW_SQL("u.mrn") : USER_ROW_SQL("u.name"), &st);
    if (rc == MV_OK && bind_text(st, 1, registry_role_name(role)) != SQLITE_OK) {
        sqlite3_finalize(st);
        rc = db_err(r, SQLITE_MISUSE, "users");
    } else if (rc == MV_OK) {
        rc = each_row(r, st, 2, limit, user_one, &fn, ctx, "users");
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
#undef USER_ROW_SQL
}

/* ---------- appointments ---------- */

static mv_err appt_one(sqlite3_stmt *st, const void *fn, void *ctx)
{
    const registry_appt_row row = {
        .id = col_str(st, 0),
        .patient_name = col_str(st, 1),
        .patient_mrn = col_str(st, 2),
        .department = col_str(st, 3),
        .doctor_name = col_str(st, 4),
        .has_starts_at = sqlite3_column_type(st, 5) != SQLITE_NULL,
        .starts_at = col_u64(st, 5),
        .place = col_str(st, 6),
        .reason = col_str(st, 7),
        .status = col_str(st, 8),
        .updated_at = col_u64(st, 9),
    };
    return (*(const registry_appt_fn *)fn)(ctx, &row);
}

mv_err registry_appt_rows(registry *r, const char *department, const char *status, const char *doctor_pk,
                          size_t limit, registry_appt_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (!r || !fn)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT a.id, p.name, p.mrn, a.department, dr.name, a.starts_at, a.place, a.reason, a.status,"
                     " a.updated_at FROM appointments a JOIN users p ON p.id = a.patient_id"
                     " LEFT JOIN users dr ON dr.id = a.doctor_id"
                     " WHERE (?1 IS NULL OR a.department = ?1) AND (?2 IS NULL OR a.status = ?2)"
                     " AND (?3 IS NULL OR dr.sign_pk = ?3)"
                     " ORDER BY a.starts_at IS NULL, a.starts_at, a.created_at LIMIT ?4",
                     &st);
    if (rc == MV_OK &&
        (bind_text(st, 1, department) != SQLITE_OK || bind_text(st, 2, status) != SQLITE_OK ||
         bind_text(st, 3, doctor_pk) != SQLITE_OK)) {
        sqlite3_finalize(st);
        rc = db_err(r, SQLITE_MISUSE, "appointments");
    } else if (rc == MV_OK) {
        rc = each_row(r, st, 4, limit, appt_one, &fn, ctx, "appointments");
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---------- medicines ---------- */

#define MED_ROW_SQL                                                                                                 \
    "SELECT m.id, m.name, m.form, m.strength, m.dosage, m.code, m.updated_at, u.name FROM medicines m"             \
    " LEFT JOIN users u ON u.id = m.updated_by "

static mv_err med_one(sqlite3_stmt *st, const void *fn, void *ctx)
{
    const registry_medicine_row row = {
        .id = sqlite3_column_int64(st, 0),
        .name = col_str(st, 1),
        .form = col_str(st, 2),
        .strength = col_str(st, 3),
        .dosage = col_str(st, 4),
        .code = col_str(st, 5),
        .updated_at = col_u64(st, 6),
        .updated_by = col_str(st, 7),
    };
    return (*(const registry_medicine_fn *)fn)(ctx, &row);
}

mv_err registry_medicine_rows(registry *r, size_t limit, registry_medicine_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (!r || !fn)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r, MED_ROW_SQL "ORDER BY m.name, m.form, m.strength LIMIT ?1", &st);
    if (rc == MV_OK)
        rc = each_row(r, st, 1, limit, med_one, &fn, ctx, "medicines");
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_medicine_get(registry *r, int64_t id, registry_medicine_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (!r || !fn)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r, MED_ROW_SQL "WHERE m.id = ?1", &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, id);
        if ((rc = step_row(r, st, "medicine")) == MV_OK)
            rc = med_one(st, &fn, ctx);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---------- step-up requests and alerts ---------- */

static mv_err stepup_one(sqlite3_stmt *st, const void *fn, void *ctx)
{
    const registry_stepup_row row = {
        .id = sqlite3_column_int64(st, 0),
        .created_at = col_u64(st, 1),
        .name = col_str(st, 2),
        .sign_pk = col_str(st, 3),
        .role = col_str(st, 4),
    };
    return (*(const registry_stepup_fn *)fn)(ctx, &row);
}

mv_err registry_stepup_pending_rows(registry *r, size_t limit, registry_stepup_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (!r || !fn)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT s.id, s.created_at, u.name, u.sign_pk, u.role FROM stepup_requests s JOIN users u "
                     "ON u.id = s.user_id WHERE s.status = 'pending' ORDER BY s.created_at, s.id LIMIT ?1",
                     &st);
    if (rc == MV_OK)
        rc = each_row(r, st, 1, limit, stepup_one, &fn, ctx, "stepup requests");
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static mv_err alert_one(sqlite3_stmt *st, const void *fn, void *ctx)
{
    const registry_alert_row row = {
        .id = sqlite3_column_int64(st, 0),
        .at = col_u64(st, 1),
        .source = col_str(st, 2),
        .kind = col_str(st, 3),
        .principal = col_str(st, 4),
        .address = col_str(st, 5),
        .object = col_str(st, 6),
        .reason = col_str(st, 7),
        .count = col_u64(st, 8),
        .last_at = col_u64(st, 9),
        .delivered = sqlite3_column_type(st, 10) != SQLITE_NULL,
        .delivered_at = col_u64(st, 10),
        .name = sqlite3_column_type(st, 11) != SQLITE_NULL ? col_str(st, 11) : NULL,
        .role = sqlite3_column_type(st, 12) != SQLITE_NULL ? col_str(st, 12) : NULL,
    };
    return (*(const registry_alert_fn *)fn)(ctx, &row);
}

mv_err registry_alert_rows(registry *r, size_t limit, registry_alert_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (!r || !fn)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT a.id, a.at, a.source, a.kind, a.principal, a.address, a.object, a.reason, a.count, "
                     "a.last_at, a.delivered_at, u.name, u.role FROM alerts a LEFT JOIN users u "
                     "ON u.sign_pk = a.principal ORDER BY a.last_at DESC, a.id DESC LIMIT ?1",
                     &st);
    if (rc == MV_OK)
        rc = each_row(r, st, 1, limit, alert_one, &fn, ctx, "alerts");
    pthread_mutex_unlock(&r->lock);
    return rc;
}
