/* mv_sign.c - test helper: prints the MV-* header lines of a signed request, so a shell test
 * can send it with curl and look at the raw answer (status, headers, body) the way an
 * intruder's own tool would.
 *
 * usage: mv_sign --user DIR --target URL [--forge sig|cred | --expired-by HOSPITAL_DIR] METHOD PATH_AND_QUERY
 *        [BODY_FILE]
 *   --target URL    the service the request is for (its base URL; signed as its origin)
 *   --forge sig     claims DIR's key and credential but signs with a random key (bad signature)
 *   --forge cred    DIR's key with a credential "issued" by a random key that is not the
 *                   hospital's (a forged credential), copying DIR's role and departments
 *   --expires-at T  with --expired-by: the credential expired at unix time T (default: an hour ago)
 *   --expired-by H  DIR's key with a credential the real hospital (identity directory H) signed
 *                   that expired an hour ago
 * Output: one "Name: value" line per header (MV-Key, MV-Date, MV-Nonce, MV-Target,
 * MV-Content-SHA256, MV-Credential, MV-Signature). Exit 0, or 2 on bad usage, 1 on any failure. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_mem.h"

int main(int argc, char **argv)
{
    const char *dir = NULL, *forge = NULL, *hosp_dir = NULL, *target_url = NULL, *expires_at = NULL;
    char origin[MV_AUTH_MAX_TARGET + 1];
    int i = 1, rc = 1;
    mv_identity *id = NULL, *hosp = NULL;
    uint8_t pk[32], sk[64], fpk[32], fsk[64];
    char cred_b64[MV_CRED_B64_MAX + 1];
    mv_buf body;
    mv_buf_init(&body, (size_t)64 << 20);
    memset(sk, 0, sizeof sk);
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (!strcmp(argv[i], "--user"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--forge"))
            forge = argv[i + 1];
        else if (!strcmp(argv[i], "--expired-by"))
            hosp_dir = argv[i + 1];
        else if (!strcmp(argv[i], "--expires-at"))
            expires_at = argv[i + 1];
        else if (!strcmp(argv[i], "--target"))
            target_url = argv[i + 1];
        else
            return 2;
    }
    if (!dir || !target_url || mv_auth_origin(target_url, origin, sizeof origin) != MV_OK || argc - i < 2 || argc - i > 3 || (forge && strcmp(forge, "sig") && strcmp(forge, "cred")) ||
        (forge && hosp_dir))
        return 2;
    const char *method = argv[i], *path = argv[i + 1];
    if (mv_crypto_init() != MV_OK || mv_identity_load(dir, &id) != MV_OK || !mv_identity_credential(id))
        goto out;
    if (argc - i == 3 && mv_file_read(argv[i + 2], body.max, &body) != MV_OK)
        goto out;
    memcpy(pk, mv_identity_sign_pk(id), 32);
    memcpy(sk, mv_identity_sign_sk(id), 64);
    snprintf(cred_b64, sizeof cred_b64, "%s", mv_identity_credential(id));
    uint64_t now = (uint64_t)time(NULL);
    mv_signed_headers h;
    if ((forge && !strcmp(forge, "cred")) || hosp_dir) {
        /* DIR's key and role with a credential signed by a key that is not the hospital's, or
         * by the hospital but expired an hour ago. */
        mv_credential c;
        uint8_t hpk[32], hsk[64];
        if (mv_credential_decode(cred_b64, strlen(cred_b64), &c) != MV_OK)
            goto out;
        if (hosp_dir) {
            if (mv_identity_load(hosp_dir, &hosp) != MV_OK)
                goto out;
            memcpy(hpk, mv_identity_sign_pk(hosp), 32);
            memcpy(hsk, mv_identity_sign_sk(hosp), 64);
            c.expires_at = expires_at ? strtoull(expires_at, NULL, 10) : now - 3600;
            c.issued_at = c.expires_at - 3600;
        } else {
            crypto_sign_keypair(hpk, hsk);
            c.issued_at = now - 60;
            c.expires_at = now + 3600;
        }
        rc = mv_credential_issue(&c, hpk, hsk) == MV_OK && mv_credential_encode(&c, cred_b64, sizeof cred_b64) == MV_OK
                 ? 0
                 : 1;
        mv_wipe(hsk, sizeof hsk);
        if (rc)
            goto out;
        rc = 1;
    }
    if (mv_auth_sign_request(&h, pk, sk, origin, method, path, body.ptr, body.len, now) != MV_OK)
        goto out;
    if (forge && !strcmp(forge, "sig")) {
        /* Same claimed key and credential, signature by someone else. */
        mv_signed_headers other;
        crypto_sign_keypair(fpk, fsk);
        if (mv_auth_sign_request(&other, fpk, fsk, origin, method, path, body.ptr, body.len, now) != MV_OK)
            goto out;
        memcpy(h.signature, other.signature, sizeof h.signature);
        mv_wipe(fsk, sizeof fsk);
    }
    printf("MV-Key: %s\nMV-Date: %s\nMV-Nonce: %s\nMV-Target: %s\nMV-Content-SHA256: %s\nMV-Credential: %s\n"
           "MV-Signature: %s\n",
           h.key, h.date, h.nonce, h.target, h.body_sha256, cred_b64, h.signature);
    rc = 0;
out:
    mv_wipe(sk, sizeof sk);
    mv_buf_clear(&body);
    mv_identity_free(id);
    mv_identity_free(hosp);
    if (rc)
        fprintf(stderr, "mv_sign: failed\n");
    return rc;
}
