/* storage_guard_state.c - the guard's state files in the server's directory: the honeytoken
 * set and the principals' reading baselines, written atomically (a crash leaves the old or the
 * new file) and read back at start. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "storage_guard.h"

/* Reads the state file at path, {"<key>":[...]} with at most max entries, into *j (the
 * document, for mv_json_free) and *arr (its array). A missing file is an empty set: MV_OK with
 * *arr NULL. Errors: MV_ERR_PARSE (another shape, more than max), those of mv_file_read and
 * mv_json_parse. */
static mv_err read_state_array(const char *path, const char *key, size_t max, mv_json **j, const mv_json **arr)
{
    mv_buf b;
    mv_err rc;
    *j = NULL;
    *arr = NULL;
    if (!mv_file_exists(path))
        return MV_OK;
    mv_buf_init(&b, GUARD_STATE_MAX);
    if ((rc = mv_file_read(path, GUARD_STATE_MAX, &b)) == MV_OK)
        rc = mv_json_parse((const char *)b.ptr, b.len, NULL, j, NULL);
    mv_buf_clear(&b);
    if (rc != MV_OK)
        return rc;
    const mv_json *a = mv_json_get(*j, key);
    if (mv_json_type_of(a) != MV_JSON_ARRAY || mv_json_len(a) > max)
        return MV_ERR_PARSE;
    *arr = a;
    return MV_OK;
}

void guard_honeytokens_jw(mv_jw *w, const honeytoken *ht, size_t n)
{
    mv_jw_arr(w);
    for (size_t i = 0; i < n; i++) {
        mv_jw_obj(w);
        mv_jw_khex(w, "id", ht[i].id, 16);
        mv_jw_kstr(w, "department", ht[i].dept);
        mv_jw_ku64(w, "created", ht[i].created);
        mv_jw_obj_end(w);
    }
    mv_jw_arr_end(w);
}

mv_err guard_write_honeytokens(const storage_guard *g, mv_buf *b)
{
    mv_jw w;
    mv_jw_init(&w, b);
    mv_jw_obj(&w);
    mv_jw_key(&w, "honeytokens");
    guard_honeytokens_jw(&w, g->ht, g->n_ht);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
}

/* Writes the honeytoken set. Lock held. */
mv_err guard_save_honeytokens(storage_guard *g)
{
    mv_buf b;
    mv_buf_init(&b, GUARD_STATE_MAX);
    mv_err rc = guard_write_honeytokens(g, &b);
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "\n");
    if (rc == MV_OK)
        rc = mv_file_write_atomic(g->honey_path, b.ptr, b.len, 0600);
    mv_buf_clear(&b);
    return rc;
}

mv_err guard_load_honeytokens(storage_guard *g)
{
    mv_json *j = NULL;
    const mv_json *arr = NULL;
    mv_err rc = read_state_array(g->honey_path, "honeytokens", GUARD_MAX_HONEYTOKENS, &j, &arr);
    if (rc != MV_OK || !arr)
        goto out;
    size_t n = mv_json_len(arr);
    rc = MV_ERR_NOMEM;
    if (n && !(g->ht = mv_calloc(n, sizeof *g->ht)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        const mv_json *e = mv_json_at(arr, i);
        size_t dl = 0;
        const char *d = mv_json_get_str(e, "department", &dl);
        rc = MV_ERR_PARSE;
        if (mv_json_get_hex(e, "id", g->ht[i].id, 16) != MV_OK || !d || dl == 0 || dl > MV_CRED_MAX_DEPT_LEN ||
            strlen(d) != dl || mv_json_get_u64(e, "created", &g->ht[i].created) != MV_OK)
            goto out;
        memcpy(g->ht[i].dept, d, dl + 1);
    }
    g->n_ht = n;
    if (n)
        qsort(g->ht, n, sizeof *g->ht, cmp_id16);
    rc = MV_OK;
out:
    mv_json_free(j);
    if (rc != MV_OK)
        mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "%s is malformed: %s", g->honey_path, mv_strerror(rc));
    return rc;
}

/* Writes every baseline (milli-reads per active hour). Lock held. */
mv_err guard_save_profiles(storage_guard *g)
{
    mv_buf b;
    mv_buf_init(&b, GUARD_STATE_MAX);
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_key(&w, "profiles");
    mv_jw_arr(&w);
    for (size_t i = 0; i < g->n_prof; i++) {
        const guard_profile *p = &g->prof[i];
        if (!p->active_hours)
            continue;
        mv_jw_obj(&w);
        mv_jw_khex(&w, "subject", p->subject, 32);
        mv_jw_ku64(&w, "baseline_milli", (uint64_t)llround(p->baseline * 1000.0));
        mv_jw_ku64(&w, "active_hours", p->active_hours);
        mv_jw_ku64(&w, "hour", p->hour);
        mv_jw_ku64(&w, "hour_reads", p->hour_reads);
        mv_jw_obj_end(&w);
    }
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    mv_err rc = mv_jw_finish(&w);
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "\n");
    if (rc == MV_OK)
        rc = mv_file_write_atomic(g->prof_path, b.ptr, b.len, 0600);
    if (rc == MV_OK) {
        g->prof_dirty = 0;
        for (size_t i = 0; i < g->n_prof; i++)
            g->prof[i].dirty = 0;
    }
    mv_buf_clear(&b);
    return rc;
}

mv_err guard_load_profiles(storage_guard *g)
{
    mv_json *j = NULL;
    const mv_json *arr = NULL;
    mv_err rc = read_state_array(g->prof_path, "profiles", GUARD_MAX_PROFILES, &j, &arr);
    if (rc != MV_OK || !arr)
        goto out;
    size_t n = mv_json_len(arr);
    for (size_t i = 0; i < n; i++) {
        const mv_json *e = mv_json_at(arr, i);
        uint8_t subject[32];
        uint64_t milli = 0, hours = 0, hour = 0, hour_reads = 0;
        rc = MV_ERR_PARSE;
        if (mv_json_get_hex(e, "subject", subject, 32) != MV_OK ||
            mv_json_get_u64(e, "baseline_milli", &milli) != MV_OK ||
            mv_json_get_u64(e, "active_hours", &hours) != MV_OK || mv_json_get_u64(e, "hour", &hour) != MV_OK ||
            mv_json_get_u64(e, "hour_reads", &hour_reads) != MV_OK)
            goto out;
        guard_profile *p = guard_profile_of(g, subject);
        rc = MV_ERR_NOMEM;
        if (!p)
            goto out;
        p->baseline = (double)milli / 1000.0;
        p->active_hours = hours;
        p->hour = hour;
        p->hour_reads = hour_reads;
    }
    rc = MV_OK;
out:
    mv_json_free(j);
    if (rc != MV_OK)
        mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "%s is malformed: %s", g->prof_path, mv_strerror(rc));
    return rc;
}
