/* put_plan.c - what a put will store: the inputs expanded to files, and each record's patient
 * settled with the hospital (registered or legacy, and the delegation it rides with) before
 * any of its bytes are read. */
#include "put_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"

/* ---------- inputs ---------- */

mv_err mvc_put_add_rec(struct put *P, const char *path, uint64_t size, struct rec **out)
{
    mv_err rc = mv_array_grow(&P->recs, &P->cap_recs, P->n_recs, sizeof *P->recs, 64);
    if (rc != MV_OK)
        return rc;
    struct rec *r = mv_calloc(1, sizeof *r);
    if (!r)
        return MV_ERR_NOMEM;
    size_t l = strlen(path);
    r->path = mv_malloc(l + 1);
    if (!r->path) {
        mv_free(r);
        return MV_ERR_NOMEM;
    }
    memcpy(r->path, path, l + 1);
    r->bytes = size;
    mv_record_init(&r->r);
    P->recs[P->n_recs++] = r;
    P->total_bytes += size;
    if (out)
        *out = r;
    return MV_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds path (a file, or a directory walked recursively in name order). */
mv_err mvc_put_expand(struct put *P, const char *path, int depth)
{
    struct stat sb;
    if (depth > 64)
        return MV_ERR_TOO_LARGE;
    if (lstat(path, &sb) != 0) {
        mvc_seterr(P->c, "cannot read an input path (%s)", strerror(errno));
        return MV_ERR_NOT_FOUND;
    }
    if (S_ISREG(sb.st_mode))
        return mvc_put_add_rec(P, path, (uint64_t)sb.st_size, NULL);
    if (!S_ISDIR(sb.st_mode))
        return MV_OK; /* symlinks, devices, sockets: skipped */
    DIR *d = opendir(path);
    if (!d) {
        mvc_seterr(P->c, "cannot open an input directory (%s)", strerror(errno));
        return MV_ERR_IO;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    mv_err rc = MV_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if ((rc = mv_array_grow(&names, &cap, n, sizeof *names, 64)) != MV_OK)
            break;
        char *full = mv_malloc(MAX_PATH_LEN);
        if (!full) {
            rc = MV_ERR_NOMEM;
            break;
        }
        if (mv_path_join(full, MAX_PATH_LEN, path, e->d_name) != MV_OK) {
            mv_free(full);
            rc = MV_ERR_TOO_LARGE;
            break;
        }
        names[n++] = full;
    }
    closedir(d);
    if (rc == MV_OK && n)
        qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        if (rc == MV_OK)
            rc = mvc_put_expand(P, names[i], depth + 1);
        mv_free(names[i]);
    }
    mv_free(names);
    return rc;
}

/* ---------- patients ---------- */

/* The MRN a FHIR resource names as its subject ("subject" or "patient" reference
 * "Patient/MRN-<digits>"), copied to mrn; 0 if it names none. Other references cannot be a
 * hospital MRN and are never looked up. */
static int fhir_subject_mrn(const mv_json *doc, char mrn[32])
{
    static const char *const keys[] = {"subject", "patient"};
    for (size_t k = 0; k < 2; k++) {
        size_t l = 0;
        const char *ref = mv_json_get_str(mv_json_get(doc, keys[k]), "reference", &l);
        if (!ref || l < 8 + 5 || l > 8 + 24 || memcmp(ref, "Patient/MRN-", 12) != 0)
            continue;
        size_t i = 12;
        while (i < l && ref[i] >= '0' && ref[i] <= '9')
            i++;
        if (i != l)
            continue;
        memcpy(mrn, ref + 8, l - 8);
        mrn[l - 8] = 0;
        return 1;
    }
    return 0;
}

/* *reg: 1 if mrn is a registered patient, -1 if the hospital refused to say, 0 otherwise.
 * Each MRN is asked once per put. Returns a service failure (network, unexpected answers). */
mv_err mvc_put_mrn_registered(struct put *P, const char *mrn, int *reg)
{
    *reg = 0;
    if (!mvc_mrn_ok(mrn))
        return MV_OK; /* cannot name a hospital patient */
    for (size_t i = 0; i < P->n_mrns; i++)
        if (!strcmp(P->mrns[i].mrn, mrn)) {
            *reg = P->mrns[i].registered;
            return MV_OK;
        }
    /* The look-up shares the client with the worker: wait for it (a new MRN is rare). */
    mv_err rc = mvc_put_join_worker(P);
    if (rc != MV_OK)
        return rc;
    mvc_patient *p = mv_malloc(sizeof *p);
    if (!p)
        return MV_ERR_NOMEM;
    rc = mvc_patient_lookup(P->c, mrn, p);
    if (rc == MV_OK)
        *reg = p->registered;
    else if (rc == MV_ERR_FORBIDDEN) {
        *reg = -1;
        rc = MV_OK;
    }
    mv_wipe(p, sizeof *p);
    mv_free(p);
    if (rc != MV_OK)
        return rc;
    if ((rc = mv_array_grow(&P->mrns, &P->cap_mrns, P->n_mrns, sizeof *P->mrns, 8)) != MV_OK)
        return rc;
    snprintf(P->mrns[P->n_mrns].mrn, sizeof P->mrns[P->n_mrns].mrn, "%s", mrn);
    P->mrns[P->n_mrns++].registered = *reg;
    return MV_OK;
}

/* *reg as mvc_put_mrn_registered for the MRN doc's subject names ("Patient/MRN-<digits>"). */
mv_err mvc_put_subject_registered(struct put *P, const mv_json *doc, int *reg, char mrn[32])
{
    *reg = 0;
    if (!fhir_subject_mrn(doc, mrn))
        return MV_OK;
    return mvc_put_mrn_registered(P, mrn, reg);
}

/* opt.patient, or a registered patient's run: looks the MRN up. Not registered: legacy records (author only). Registered:
 * the hospital must have handed this doctor a delegation (for opt.appointment if given),
 * which then rides with every record; the department switches to the delegation's if the
 * user has it. saved_dept receives the department to restore. */
mv_err mvc_put_prepare_patient(struct put *P, const char *mrn, char saved_dept[64])
{
    mv_client *c = P->c;
    mvc_patient *p = mv_malloc(sizeof *p);
    mv_credential cred;
    mv_err rc;
    if (!p)
        return MV_ERR_NOMEM;
    if ((rc = mvc_patient_lookup(c, mrn, p)) != MV_OK || !p->registered)
        goto out; /* unregistered: legacy */
    rc = MV_ERR_FORBIDDEN;
    if (!p->has_delegation || memcmp(p->d.doctor, mv_identity_sign_pk(c->id), 32) != 0 ||
        memcmp(p->d.patient, p->sign_pk, 32) != 0) {
        mvc_seterr(c, NO_DELEGATION_FMT, mrn);
        goto out;
    }
    if (c->opt.appointment) {
        uint8_t ep[16];
        if (mv_hex_decode_exact(ep, 16, c->opt.appointment, strlen(c->opt.appointment)) != MV_OK) {
            mvc_seterr(c, "an appointment id is 32 hex digits");
            rc = MV_ERR_INVAL;
            goto out;
        }
        if (memcmp(ep, p->d.appointment, 16) != 0) {
            mvc_seterr(c, "no delegation from patient %s for you for appointment %s: the patient signs one at "
                          "the appointment", mrn, c->opt.appointment);
            goto out;
        }
    }
    if (mv_delegation_verify(&p->d, c->dep.hospital_pk, (uint64_t)time(NULL)) != MV_OK) {
        mvc_seterr(c, "the delegation from patient %s is expired or not countersigned by this hospital", mrn);
        goto out;
    }
    if (strcmp(p->d.department, c->dept) != 0) {
        mv_client_whoami(c, &cred, NULL);
        if (!mv_credential_has_department(&cred, p->d.department)) {
            mvc_seterr(c, "the delegation from patient %s is for department %s, which is not yours", mrn,
                       p->d.department);
            goto out;
        }
        memcpy(saved_dept, c->dept, 64);
        snprintf(c->dept, sizeof c->dept, "%s", p->d.department);
    }
    if ((rc = mv_delegation_encode(&p->d, P->dg, sizeof P->dg, &P->dglen)) != MV_OK)
        goto out;
    memcpy(P->pat_sign, p->sign_pk, 32);
    memcpy(P->pat_box, p->box_pk, 32);
    memcpy(P->episode, p->d.appointment, 16);
    P->for_patient = 1;
out:
    mv_wipe(p, sizeof *p);
    mv_free(p);
    return rc;
}
