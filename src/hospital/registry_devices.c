/* registry_devices.c - device keys, step-up nonces and step-up requests in the registry (split
 * from registry.c). */
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
    if (rc == MV_OK && (rc = registry_user_by_pk(r, user_pk, u)) == MV_ERR_NOT_FOUND)
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

static void device_row_json(mv_jw *w, sqlite3_stmt *st)
{
    mv_jw_obj(w);
    mv_jw_kstr(w, "device_pk", col_str(st, 0));
    mv_jw_kstr(w, "name", col_str(st, 1));
    mv_jw_ku64(w, "added_at", col_u64(st, 2));
    mv_jw_obj_end(w);
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
    mv_err rc = registry_user_by_pk(r, user_pk, u);
    if (rc == MV_OK &&
        (rc = prep(r, "SELECT device_pk, name, added_at FROM devices WHERE user_id = ?1 ORDER BY id", &st)) == MV_OK) {
        sqlite3_bind_int64(st, 1, u->id);
        rc = json_list(r, st, b, "devices", device_row_json, "devices");
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
