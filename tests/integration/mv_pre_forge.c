/* mv_pre_forge.c - test helper: the user of USER_DIR signs, through mv_pre_* directly, a
 * delegation of episode LABEL (any episode id: one of hers, or one whose records are not hers) to
 * RECIPIENT whose capsules hold junk keys under refs that are not hers (another user's keyset or
 * record ids), and uploads it to every
 * proxy of the deployment with signed requests, as a hostile owner would. test_pre_share.sh
 * checks that the recipient's own records and her legitimate delegations still open.
 *
 * usage: mv_pre_forge DEPLOYMENT USER_DIR RECIPIENT_SIGN_PK LABEL_EPISODE_ID (k:ID|r:ID|v:ID)...
 *   k:ID an extra kind-1 (keyset) entry for ID; r:ID an extra kind-2 (record) entry for ID;
 *   v:ID both for record ID (r:ID, and k: its keyset's id if its envelope names one, in the
 *        clear), its envelope fetched as the user of $MV_PRE_FORGE_VICTIM (a test shortcut:
 *        the storage server holds keyset ids in its list as record ids)
 * Output: the delegation's hash (hex) on success. Exit 0 if every proxy took it, 1 otherwise,
 * 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "client/client_internal.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_pre.h"
#include "medvault/mv_record.h"
#include "net/frames.h"

#define MAX_REFS 16

/* The keyset id record id's envelope names, fetched as the user of victim_dir: 1, 0 if it
 * names none (MVE1), -1 if it cannot be fetched. */
static int keyset_of(const char *deployment, const char *victim_dir, const uint8_t id[16], uint8_t kid[16])
{
    mv_client *v = NULL;
    mv_buf resp;
    mv_frame_iter it;
    mv_envelope_kind kind = 0;
    uint8_t st = 0;
    const uint8_t *env = NULL;
    size_t len = 0;
    int ok = -1;
    mv_buf_init(&resp, 1 << 24);
    if (victim_dir && mv_client_open(deployment, victim_dir, NULL, &v) == MV_OK &&
        mvc_records_get(v, id, 1, &resp, &it) == MV_OK && mv_frame_answer_next(&it, &st, &env, &len) == 1 &&
        st == MV_FRAME_RECORD_OK && mv_envelope_kind_of(env, len, &kind, kid) == MV_OK)
        ok = kind == MV_ENVELOPE_MVE2;
    mv_buf_clear(&resp);
    mv_client_close(v);
    return ok;
}

static int ref_cmp(const void *a, const void *b)
{
    return memcmp(((const mv_pre_entry *)a)->ref, ((const mv_pre_entry *)b)->ref, 16);
}

int main(int argc, char **argv)
{
    mv_client *c = NULL;
    mv_pre_delegation d;
    mv_pre_entry entries[2 * MAX_REFS];
    mv_pre_kfrag kf[MV_PRE_MAX_FRAGS];
    uint8_t to[32], seed[MV_PRE_SEED_BYTES], a[32], key[MV_PRE_KEY_BYTES], junk[32], h[32];
    uint8_t sealed[MV_PRE_SEALED_KFRAG_BYTES];
    char dept[64], hex[65];
    mv_buf deleg, body, resp;
    int ok = 0;
    if (argc < 6 || argc - 5 > MAX_REFS || mv_hex_decode_exact(to, 32, argv[3], strlen(argv[3])) != MV_OK) {
        fprintf(stderr, "usage: mv_pre_forge DEPLOYMENT USER_DIR RECIPIENT_SIGN_PK LABEL_RECORD_ID [k:ID|r:ID]...\n");
        return 2;
    }
    memset(&d, 0, sizeof d);
    memset(entries, 0, sizeof entries);
    mv_buf_init(&deleg, MV_PRE_DELEGATION_MAX_BYTES);
    mv_buf_init(&body, 1 << 20);
    mv_buf_init(&resp, 1 << 16);
    if (sodium_init() < 0 || mv_client_open(argv[1], argv[2], NULL, &c) != MV_OK ||
        mv_client_pre_key(c, to, d.pk_B, dept, sizeof dept) != MV_OK ||
        mv_hex_decode_exact(d.label, 16, argv[4], strlen(argv[4])) != MV_OK) {
        fprintf(stderr, "mv_pre_forge: cannot open the client or find the recipient's key\n");
        goto out;
    }
    d.n_entries = 0;
    for (int i = 5; i < argc; i++) {
        mv_pre_entry *e = &entries[d.n_entries++];
        char t = argv[i][0];
        if (strlen(argv[i]) != 34 || argv[i][1] != ':' || (t != 'k' && t != 'r' && t != 'v') ||
            mv_hex_decode_exact(e->ref, 16, argv[i] + 2, 32) != MV_OK) {
            fprintf(stderr, "mv_pre_forge: bad entry %s\n", argv[i]);
            goto out;
        }
        e->kind = t == 'k' ? MV_PRE_ENTRY_KEYSET : MV_PRE_ENTRY_RECORD;
        int kind = 0;
        if (t == 'v' && (kind = keyset_of(argv[1], getenv("MV_PRE_FORGE_VICTIM"), e->ref, entries[d.n_entries].ref)) < 0) {
            fprintf(stderr, "mv_pre_forge: cannot fetch the envelope of %s\n", argv[i]);
            goto out;
        }
        if (kind == 1)
            entries[d.n_entries++].kind = MV_PRE_ENTRY_KEYSET;
    }
    qsort(entries, d.n_entries, sizeof *entries, ref_cmp);
    d.entries = entries;
    memcpy(d.owner, mv_identity_sign_pk(c->id), 32);
    d.label_kind = MV_PRE_LABEL_EPISODE;
    memcpy(d.recipient, to, 32);
    d.role = MV_ROLE_DOCTOR;
    snprintf(d.department, sizeof d.department, "%s", dept);
    d.issued_at = (uint64_t)time(NULL);
    d.expires_at = d.issued_at + 86400;
    d.t = (uint8_t)c->dep.proxy_threshold;
    d.n = (uint8_t)c->dep.n_proxies;
    mv_pre_seed(mv_identity_box_sk(c->id), seed);
    if (mv_pre_label_key(seed, d.owner, MV_PRE_LABEL_EPISODE, d.label, a, d.pk_A) != MV_OK)
        goto out;
    for (size_t i = 0; i < d.n_entries; i++) {
        randombytes_buf(junk, sizeof junk); /* no key of anything */
        if (mv_pre_encapsulate(d.pk_A, NULL, entries[i].capsule, key) != MV_OK ||
            mv_pre_wrap(key, entries[i].capsule, entries[i].ref, junk, entries[i].wrapped) != MV_OK)
            goto out;
    }
    if (mv_pre_kfrags(a, d.pk_A, d.pk_B, d.t, d.n, NULL, d.X_A, kf) != MV_OK)
        goto out;
    for (unsigned i = 0; i < d.n; i++) {
        d.commit[i].proxy = (uint8_t)c->dep.proxies[i].index;
        memcpy(d.commit[i].kfrag_id, kf[i].id, 32);
        memcpy(d.commit[i].U1, kf[i].U1, 32);
    }
    if (mv_pre_delegation_sign(&d, mv_identity_sign_sk(c->id), &deleg) != MV_OK)
        goto out;
    mv_pre_delegation_hash(deleg.ptr, deleg.len, h);
    ok = 1;
    for (unsigned i = 0; i < d.n; i++) {
        long status = 0;
        uint8_t hdr[9] = {'M', 'V', 'P', 'U', 1, (uint8_t)(deleg.len >> 24), (uint8_t)(deleg.len >> 16),
                          (uint8_t)(deleg.len >> 8), (uint8_t)deleg.len};
        mv_buf_reset(&body);
        mv_buf_reset(&resp);
        if (mv_pre_kfrag_seal(&kf[i], d.commit[i].proxy, c->dep.proxies[i].box_pk, sealed) != MV_OK ||
            mv_buf_append(&body, hdr, sizeof hdr) != MV_OK || mv_buf_append(&body, deleg.ptr, deleg.len) != MV_OK ||
            mv_buf_append(&body, sealed, sizeof sealed) != MV_OK ||
            mvc_simple(c, c->dep.proxies[i].url, "POST", "/v1/pre/delegations", body.ptr, body.len,
                       "application/octet-stream", &status, &resp) != MV_OK ||
            (status != 200 && status != 201)) {
            fprintf(stderr, "mv_pre_forge: proxy %u did not take it (HTTP %ld)\n", i + 1, status);
            ok = 0;
        }
    }
    if (ok && mv_hex_encode(hex, sizeof hex, h, 32) == MV_OK)
        printf("%s\n", hex);
out:
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(a, sizeof a);
    sodium_memzero(key, sizeof key);
    sodium_memzero(kf, sizeof kf);
    mv_buf_clear(&deleg);
    mv_buf_clear(&body);
    mv_buf_clear(&resp);
    mv_client_close(c);
    return ok ? 0 : 1;
}
