/* registry_import.c - the one-time import of the legacy users/<hex>.json registrations into the
 * registry, run inside migration 0001's transaction (split from registry.c). */
#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hospital/registry_internal.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

#define LEGACY_FILE_MAX 8192

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
    rc = registry_user_insert(r, &nu, at, now, NULL, NULL);
    if (rc == MV_ERR_INVAL || rc == MV_ERR_EXISTS)
        rc = MV_ERR_PARSE;
out:
    mv_json_free(root);
    mv_buf_clear(&b);
    return rc;
}

/* Imports DIR/users/<64 hex>.json (deployments made before the registry), in name order. */
mv_err registry_import_legacy(registry *r, const char *dir, uint64_t now)
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
