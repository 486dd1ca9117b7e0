/* share_file.c - the key server's share file: 0600, atomic, checked against its public share on load. */
#include "medvault/mv_keyserver.h"

#include <string.h>
#include <sys/stat.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_shamir.h"

static mv_err check_share(const mv_ks_share *s)
{
    uint8_t pk[32];
    uint32_t ids[MV_KS_MAX_SERVERS];
    mv_err rc;
    if (s->n == 0 || s->n > MV_KS_MAX_SERVERS || s->threshold == 0 || s->threshold > s->n || s->index == 0 ||
        s->index > s->n)
        return MV_ERR_PARSE;
    if (mv_r255_scalar_check(s->share) != MV_OK)
        return MV_ERR_VERIFY;
    if ((rc = mv_r255_smul_base(pk, s->share)) != MV_OK)
        return MV_ERR_VERIFY;
    if (!mv_ct_eq(pk, s->public_shares[s->index - 1], 32))
        return MV_ERR_VERIFY;
    for (uint32_t i = 0; i < s->threshold; i++)
        ids[i] = i + 1;
    uint8_t group[32];
    if (mv_shamir_combine_elements(ids, &s->public_shares[0][0], s->threshold, group) != MV_OK)
        return MV_ERR_VERIFY;
    if (mv_public_shares_check(&s->public_shares[0][0], s->n, s->threshold, group) != MV_OK)
        return MV_ERR_VERIFY;
    if (!mv_ct_eq(group, s->group_pk, 32))
        return MV_ERR_VERIFY;
    return MV_OK;
}

static mv_err compute_group(mv_ks_share *s)
{
    uint32_t ids[MV_KS_MAX_SERVERS];
    if (s->threshold == 0 || s->threshold > s->n || s->n > MV_KS_MAX_SERVERS)
        return MV_ERR_INVAL;
    for (uint32_t i = 0; i < s->threshold; i++)
        ids[i] = i + 1;
    return mv_shamir_combine_elements(ids, &s->public_shares[0][0], s->threshold, s->group_pk);
}

mv_err mv_ks_share_save(const char *dir, mv_ks_share *s)
{
    char path[4096];
    mv_buf b;
    mv_err rc;
    if ((rc = compute_group(s)) != MV_OK)
        return rc;
    mv_buf_init(&b, 64 * 1024);
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_ku64(&w, "version", 1);
    mv_jw_ku64(&w, "index", s->index);
    mv_jw_ku64(&w, "threshold", s->threshold);
    mv_jw_ku64(&w, "servers", s->n);
    mv_jw_ku64(&w, "epoch", s->epoch);
    mv_jw_khex(&w, "share", s->share, 32);
    mv_jw_khex(&w, "group_public_key", s->group_pk, 32);
    mv_jw_key(&w, "public_shares");
    mv_jw_arr(&w);
    for (uint32_t i = 0; i < s->n; i++)
        mv_jw_hex(&w, s->public_shares[i], 32);
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    if ((rc = mv_jw_finish(&w)) != MV_OK || (rc = mv_buf_puts(&b, "\n")) != MV_OK)
        goto out;
    if ((rc = mv_path_join(path, sizeof path, dir, "share.json")) != MV_OK)
        goto out;
    rc = mv_file_write_atomic(path, b.ptr, b.len, 0600);
out:
    mv_buf_clear(&b);
    return rc;
}

mv_err mv_ks_share_load(const char *dir, mv_ks_share *out)
{
    char path[4096];
    mv_json *root = NULL;
    mv_buf b;
    struct stat st;
    uint64_t v = 0;
    mv_err rc;
    memset(out, 0, sizeof *out);
    if ((rc = mv_path_join(path, sizeof path, dir, "share.json")) != MV_OK)
        return rc;
    if (stat(path, &st) != 0)
        return MV_ERR_NOT_FOUND;
    if (st.st_mode & 0077)
        return MV_ERR_AUTH;
    mv_buf_init(&b, 64 * 1024);
    if ((rc = mv_file_read(path, 64 * 1024, &b)) != MV_OK)
        goto out;
    if ((rc = mv_json_parse((const char *)b.ptr, b.len, NULL, &root, NULL)) != MV_OK) {
        rc = MV_ERR_PARSE;
        goto out;
    }
    rc = MV_ERR_PARSE;
    if (mv_json_get_u64(root, "index", &v) != MV_OK || v > MV_KS_MAX_SERVERS)
        goto out;
    out->index = (uint32_t)v;
    if (mv_json_get_u64(root, "threshold", &v) != MV_OK || v > MV_KS_MAX_SERVERS)
        goto out;
    out->threshold = (uint32_t)v;
    if (mv_json_get_u64(root, "epoch", &out->epoch) != MV_OK)
        goto out;
    if (mv_json_get_hex(root, "share", out->share, 32) != MV_OK ||
        mv_json_get_hex(root, "group_public_key", out->group_pk, 32) != MV_OK)
        goto out;
    const mv_json *ps = mv_json_get(root, "public_shares");
    size_t n = mv_json_len(ps);
    if (mv_json_type_of(ps) != MV_JSON_ARRAY || n == 0 || n > MV_KS_MAX_SERVERS)
        goto out;
    out->n = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        size_t sl = 0;
        const char *s = mv_json_str(mv_json_at(ps, i), &sl);
        if (!s || mv_hex_decode_exact(out->public_shares[i], 32, s, sl) != MV_OK)
            goto out;
    }
    rc = check_share(out);
out:
    if (rc != MV_OK)
        mv_wipe(out->share, 32);
    mv_json_free(root);
    mv_buf_clear(&b);
    return rc;
}

mv_err mv_keyserver_import_share(const char *dir, uint32_t index, uint32_t threshold, const uint8_t share[32],
                                 const uint8_t *public_shares, size_t n, uint64_t epoch, int overwrite)
{
    char path[4096];
    mv_ks_share s;
    mv_err rc;
    if (!dir || !share || !public_shares || n == 0 || n > MV_KS_MAX_SERVERS || index == 0 || index > n ||
        threshold == 0 || threshold > n)
        return MV_ERR_INVAL;
    if ((rc = mv_path_join(path, sizeof path, dir, "share.json")) != MV_OK)
        return rc;
    if (!overwrite && mv_file_exists(path))
        return MV_ERR_EXISTS;
    if ((rc = mv_file_mkdir(dir, 0700)) != MV_OK)
        return rc;
    memset(&s, 0, sizeof s);
    s.index = index;
    s.threshold = threshold;
    s.n = (uint32_t)n;
    s.epoch = epoch;
    memcpy(s.share, share, 32);
    memcpy(s.public_shares, public_shares, n * 32);
    if ((rc = compute_group(&s)) != MV_OK || (rc = check_share(&s)) != MV_OK) {
        rc = rc == MV_ERR_INVAL ? rc : MV_ERR_VERIFY;
        goto out;
    }
    rc = mv_ks_share_save(dir, &s);
out:
    mv_wipe(&s, sizeof s);
    return rc;
}
