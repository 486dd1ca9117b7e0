/* registry_appts.c - appointments and delegations in the registry: who may see, book, move and
 * close an appointment, and the delegations a patient grants (split from registry.c). */
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

/* ---------- appointments ---------- */

#define APPT_SELECT                                                                                                 \
    "SELECT a.id, p.name, IFNULL(p.mrn, ''), p.sign_pk, a.department, d.name, d.sign_pk, a.starts_at, a.place, "   \
    "a.reason, a.status, a.created_at, a.updated_at FROM appointments a JOIN users p ON p.id = a.patient_id "     \
    "LEFT JOIN users d ON d.id = a.doctor_id "
/* ?1 viewer role, ?2 viewer id. */
#define APPT_VISIBLE                                                                                                \
    "(?1 = 'admin' OR (?1 = 'patient' AND a.patient_id = ?2) OR (?1 = 'doctor' AND (a.doctor_id = ?2 OR "          \
    "a.department IN (SELECT department FROM user_departments WHERE user_id = ?2)))) "

static void appt_row_json(mv_jw *w, sqlite3_stmt *st)
{
    mv_jw_obj(w);
    mv_jw_kstr(w, "id", col_str(st, 0));
    mv_jw_key(w, "patient");
    mv_jw_obj(w);
    mv_jw_kstr(w, "name", col_str(st, 1));
    mv_jw_kstr(w, "mrn", col_str(st, 2));
    mv_jw_kstr(w, "sign_public_key", col_str(st, 3));
    mv_jw_obj_end(w);
    mv_jw_kstr(w, "department", sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL : col_str(st, 4));
    mv_jw_key(w, "doctor");
    if (sqlite3_column_type(st, 6) == SQLITE_NULL) {
        mv_jw_null(w);
    } else {
        mv_jw_obj(w);
        mv_jw_kstr(w, "name", col_str(st, 5));
        mv_jw_kstr(w, "sign_public_key", col_str(st, 6));
        mv_jw_obj_end(w);
    }
    if (sqlite3_column_type(st, 7) == SQLITE_NULL)
        mv_jw_knull(w, "starts_at");
    else
        mv_jw_ku64(w, "starts_at", col_u64(st, 7));
    mv_jw_kstr(w, "place", col_str(st, 8));
    mv_jw_kstr(w, "reason", col_str(st, 9));
    mv_jw_kstr(w, "status", col_str(st, 10));
    mv_jw_ku64(w, "created_at", col_u64(st, 11));
    mv_jw_ku64(w, "updated_at", col_u64(st, 12));
    mv_jw_obj_end(w);
}

static int appt_id_ok(const char *id)
{
    return mv_is_lower_hex(id, 32);
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
    rc = doctor_pk ? registry_user_by_pk(r, doctor_pk, &d) : registry_user_by_id(r, doctor_id_in, &d);
    if (rc == MV_ERR_NOT_FOUND || (rc == MV_OK && (d.role != REGISTRY_ROLE_DOCTOR || strcmp(d.status, "active") != 0))) {
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
    if (actor->role == REGISTRY_ROLE_PATIENT) {
        if (actor->id != patient->id) {
            WHY("a patient requests appointments for themself only");
            return MV_ERR_FORBIDDEN;
        }
        if (c->doctor || c->set_starts_at || c->place) {
            WHY("a patient requests an appointment; an admin books doctor, time and place");
            return MV_ERR_FORBIDDEN;
        }
    } else if (actor->role != REGISTRY_ROLE_ADMIN) {
        WHY("only patients and admins create appointments");
        return MV_ERR_FORBIDDEN;
    }
    if (patient->role != REGISTRY_ROLE_PATIENT) {
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
    if (actor->role == REGISTRY_ROLE_PATIENT) {
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
    } else if (actor->role == REGISTRY_ROLE_DOCTOR) {
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
    } else if (actor->role != REGISTRY_ROLE_ADMIN) {
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
        bind_text(st, 1, registry_role_name(viewer->role));
        sqlite3_bind_int64(st, 2, viewer->id);
        bind_text(st, 3, id);
        if ((rc = step_row(r, st, "appointment")) == MV_OK) {
            mv_jw w;
            mv_jw_init(&w, b);
            appt_row_json(&w, st);
            rc = mv_jw_finish(&w);
        }
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
        bind_text(st, 1, registry_role_name(viewer->role));
        sqlite3_bind_int64(st, 2, viewer->id);
        sqlite3_bind_int64(st, 3, f->doctor_id);
        sqlite3_bind_int64(st, 4, f->patient_id);
        bind_text(st, 5, f->department);
        bind_text(st, 6, f->status);
        rc = json_list(r, st, b, "appointments", appt_row_json, "appointments");
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
    if (caller->role != REGISTRY_ROLE_PATIENT) {
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
    if ((rc = registry_user_by_pk(r, caller->sign_pk, &me)) != MV_OK || strcmp(me.status, "active") != 0) {
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
    if (!doctor_id || (rc = registry_user_by_id(r, doctor_id, &doc)) != MV_OK || !mv_ct_eq(doc.sign_pk, d->doctor, 32) ||
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
/* Member key: the BLOB column i (a signed delegation) in standard base64. */
static void jw_blob_b64(mv_jw *w, const char *key, sqlite3_stmt *st, int i)
{
    char b64[MV_DELEGATION_B64_MAX];
    const void *p = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    if (w->rc != MV_OK)
        return;
    if (n < 0 || (size_t)n > MV_DELEGATION_MAX_BYTES || (n > 0 && !p) ||
        mv_b64_encode(b64, sizeof b64, p, (size_t)n) != MV_OK) {
        w->rc = MV_ERR_IO;
        return;
    }
    mv_jw_kstr(w, key, b64);
}

static void delegation_row_json(mv_jw *w, sqlite3_stmt *st)
{
    mv_jw_obj(w);
    mv_jw_ku64(w, "id", col_u64(st, 0));
    mv_jw_kstr(w, "appointment", col_str(st, 1));
    mv_jw_key(w, "patient");
    mv_jw_obj(w);
    mv_jw_kstr(w, "name", col_str(st, 2));
    mv_jw_kstr(w, "mrn", col_str(st, 3));
    mv_jw_kstr(w, "sign_public_key", col_str(st, 4));
    mv_jw_obj_end(w);
    mv_jw_key(w, "doctor");
    mv_jw_obj(w);
    mv_jw_kstr(w, "name", col_str(st, 5));
    mv_jw_kstr(w, "sign_public_key", col_str(st, 6));
    mv_jw_obj_end(w);
    mv_jw_kstr(w, "department", col_str(st, 7));
    mv_jw_ku64(w, "issued_at", col_u64(st, 8));
    mv_jw_ku64(w, "expires_at", col_u64(st, 9));
    mv_jw_kbool(w, "revoked", sqlite3_column_int(st, 10) != 0);
    jw_blob_b64(w, "delegation", st, 11);
    mv_jw_obj_end(w);
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
        bind_text(st, 1, registry_role_name(viewer->role));
        sqlite3_bind_int64(st, 2, viewer->id);
        sqlite3_bind_int64(st, 3, patient_id);
        rc = json_list(r, st, b, "delegations", delegation_row_json, "delegations");
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
        if (rc == MV_OK && viewer->role != REGISTRY_ROLE_ADMIN && sqlite3_column_int64(st, 0) != viewer->id) {
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
    if (rc == MV_OK && (rc = registry_user_by_mrn(r, mrn, &p)) == MV_OK && p.role != REGISTRY_ROLE_PATIENT)
        rc = MV_ERR_NOT_FOUND;
    if (rc != MV_OK)
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
    if (rc == MV_OK || rc == MV_ERR_NOT_FOUND) {
        mv_jw w;
        mv_jw_init(&w, b);
        mv_jw_obj(&w);
        mv_jw_kbool(&w, "registered", 1);
        mv_jw_kstr(&w, "mrn", p.mrn);
        mv_jw_kstr(&w, "name", p.name);
        mv_jw_khex(&w, "sign_public_key", p.sign_pk, 32);
        mv_jw_khex(&w, "box_public_key", p.box_pk, 32);
        mv_jw_kstr(&w, "status", p.status);
        if (rc == MV_OK) {
            jw_blob_b64(&w, "delegation", st, 0);
            mv_jw_kstr(&w, "appointment", col_str(st, 1));
        } else {
            mv_jw_knull(&w, "delegation");
            mv_jw_knull(&w, "appointment");
        }
        mv_jw_obj_end(&w);
        rc = mv_jw_finish(&w);
    }
done:
    sqlite3_finalize(st);
    mv_err end = tx_end(r, MV_OK);
    pthread_mutex_unlock(&r->lock);
    return rc != MV_OK ? rc : end;
}
