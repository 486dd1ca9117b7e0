/* genemr_fhir.c - gen-emr's output (genemr.h): a FHIR R4 MedicationRequest per prescription, a
 * transaction Bundle per patient, and the manifest, written through the pretty JSON writer.
 * Synthetic data only. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "genemr.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

static void write_patient(jw *w, const char *key, const patient *p)
{
    char t[40];
    jw_open(w, key, '{');
    jw_str(w, "resourceType", "Patient");
    jw_str(w, "id", p->id);
    jw_open(w, "meta", '{');
    fmt_time(t, p->updated, 0);
    jw_str(w, "lastUpdated", t);
    jw_close(w, '}');
    jw_open(w, "identifier", '[');
    jw_open(w, NULL, '{');
    jw_str(w, "use", "usual");
    jw_open(w, "type", '{');
    jw_open(w, "coding", '[');
    jw_coding(w, "http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical record number");
    jw_close(w, ']');
    jw_close(w, '}');
    jw_str(w, "system", "https://hospital.example.org/fhir/sid/mrn");
    jw_str(w, "value", p->mrn);
    jw_close(w, '}');
    jw_close(w, ']');
    jw_raw(w, "active", "true");
    jw_open(w, "name", '[');
    jw_open(w, NULL, '{');
    jw_str(w, "use", "official");
    jw_str(w, "family", p->family);
    jw_open(w, "given", '[');
    jw_str(w, NULL, p->given);
    jw_close(w, ']');
    jw_close(w, '}');
    jw_close(w, ']');
    jw_str(w, "gender", p->female ? "female" : "male");
    fmt_date(t, p->birth);
    jw_str(w, "birthDate", t);
    jw_open(w, "address", '[');
    jw_open(w, NULL, '{');
    jw_str(w, "use", "home");
    jw_str(w, "city", p->home->name);
    jw_str(w, "state", p->home->state);
    jw_str(w, "postalCode", p->home->zip);
    jw_str(w, "country", "US");
    jw_close(w, '}');
    jw_close(w, ']');
    jw_close(w, '}');
}

void write_rx(jw *w, const char *key, const gen *g, const rx *x, const patient *p)
{
    const dept *d = &g->depts[x->dept];
    const regimen *rg = x->reg;
    const form *fm = &forms[rg->d->form];
    const freq *f = &freqs[rg->fq];
    const doctor *doc = &d->docs[x->doctor == (size_t)-1 ? p->doctor : x->doctor];
    char t[256], v[24];

    jw_open(w, key, '{');
    jw_str(w, "resourceType", "MedicationRequest");
    jw_str(w, "id", x->id);
    jw_open(w, "meta", '{');
    fmt_time(t, x->updated, x->updated_ms);
    jw_str(w, "lastUpdated", t);
    jw_close(w, '}');
    jw_open(w, "identifier", '[');
    jw_open(w, NULL, '{');
    jw_str(w, "use", "official");
    jw_str(w, "system", "https://hospital.example.org/fhir/sid/prescription");
    snprintf(t, sizeof t, "RX-%d-%08zu", BASE_YEAR, x->n + 1);
    jw_str(w, "value", t);
    jw_close(w, '}');
    jw_close(w, ']');
    jw_str(w, "status", "active");
    jw_str(w, "intent", "order");
    jw_open(w, "category", '[');
    jw_open(w, NULL, '{');
    jw_open(w, "coding", '[');
    jw_coding(w, "http://terminology.hl7.org/CodeSystem/medicationrequest-category", fm->category,
              !strcmp(fm->category, "inpatient") ? "Inpatient" : "Outpatient");
    jw_close(w, ']');
    jw_close(w, '}');
    jw_close(w, ']');
    jw_open(w, "medicationCodeableConcept", '{');
    jw_open(w, "coding", '[');
    jw_coding(w, "http://www.nlm.nih.gov/research/umls/rxnorm", rg->d->code, rg->d->name);
    jw_close(w, ']');
    jw_str(w, "text", rg->d->name);
    jw_close(w, '}');
    jw_open(w, "subject", '{');
    snprintf(t, sizeof t, "Patient/%s", p->id);
    jw_str(w, "reference", t);
    snprintf(t, sizeof t, "%s %s", p->given, p->family);
    jw_str(w, "display", t);
    jw_close(w, '}');
    jw_open(w, "encounter", '{');
    snprintf(t, sizeof t, "Encounter/%s", x->encounter);
    jw_str(w, "reference", t);
    jw_close(w, '}');
    fmt_time(t, x->authored, 1000);
    jw_str(w, "authoredOn", t);
    jw_open(w, "requester", '{');
    snprintf(t, sizeof t, "Practitioner/%s", doc->id);
    jw_str(w, "reference", t);
    jw_str(w, "display", doc->name);
    jw_close(w, '}');
    if (rg->note || x->extra_note) {
        jw_open(w, "note", '[');
        if (rg->note) {
            jw_open(w, NULL, '{');
            jw_str(w, "text", rg->note);
            jw_close(w, '}');
        }
        if (x->extra_note) {
            jw_open(w, NULL, '{');
            jw_str(w, "text", x->extra_note);
            jw_close(w, '}');
        }
        jw_close(w, ']');
    }
    jw_open(w, "dosageInstruction", '[');
    jw_open(w, NULL, '{');
    jw_raw(w, "sequence", "1");
    jw_str(w, "text", rg->text);
    jw_open(w, "timing", '{');
    jw_open(w, "repeat", '{');
    if (!f->prn)
        jw_days(w, "boundsDuration", rg->days);
    jw_uint(w, "frequency", f->count);
    jw_uint(w, "period", f->period);
    jw_str(w, "periodUnit", f->unit);
    if (f->when) {
        jw_open(w, "when", '[');
        jw_str(w, NULL, f->when);
        jw_close(w, ']');
    }
    jw_close(w, '}');
    jw_close(w, '}');
    if (f->prn)
        jw_raw(w, "asNeededBoolean", "true");
    jw_open(w, "route", '{');
    jw_open(w, "coding", '[');
    jw_coding(w, "http://snomed.info/sct", routes[fm->route].code, routes[fm->route].display);
    jw_close(w, ']');
    jw_close(w, '}');
    jw_open(w, "doseAndRate", '[');
    jw_open(w, NULL, '{');
    jw_open(w, "type", '{');
    jw_open(w, "coding", '[');
    jw_coding(w, "http://terminology.hl7.org/CodeSystem/dose-rate-type", "ordered", "Ordered");
    jw_close(w, ']');
    jw_close(w, '}');
    fmt_tenths(v, rg->dose);
    jw_quantity(w, "doseQuantity", v, fm->unit1, fm->dose_code);
    jw_close(w, '}');
    jw_close(w, ']');
    jw_close(w, '}');
    jw_close(w, ']');
    jw_open(w, "dispenseRequest", '{');
    jw_open(w, "validityPeriod", '{');
    long day = x->authored / 86400;
    fmt_date(t, day);
    jw_str(w, "start", t);
    fmt_date(t, day + (rg->d->course ? 30 : 365));
    jw_str(w, "end", t);
    jw_close(w, '}');
    jw_uint(w, "numberOfRepeatsAllowed", rg->refills);
    fmt_tenths(v, rg->qty);
    jw_quantity(w, "quantity", v, fm->disp_unit, fm->disp_code);
    jw_days(w, "expectedSupplyDuration", rg->days);
    jw_close(w, '}');
    jw_close(w, '}');
}

/* Writes b's bytes to path (created 0644, truncated). Generated data: no fsync. */
int write_file(gen *g, const char *path, const mv_buf *b)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        cli_err("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    int bad = gen_write_all(fd, b->ptr, b->len) != 0, e = errno;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        cli_err("cannot write %s: %s", path, strerror(e));
        return -1;
    }
    g->bytes += b->len;
    g->files++;
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int write_manifest(gen *g, mv_buf *b)
{
    jw w;
    char path[4096];
    const char *names[MAX_DEPTS * MAX_DRUGS];
    size_t nn = 0;
    mv_buf_reset(b);
    jw_init(&w, b);
    jw_open(&w, NULL, '{');
    jw_uint(&w, "seed", g->seed);
    jw_uint(&w, "prescriptions", g->nrx);
    jw_uint(&w, "patients", g->npat);
    jw_open(&w, "departments", '{');
    for (size_t i = 0; i < g->ndept; i++) {
        const dept *d = &g->depts[i];
        size_t used = 0;
        unsigned long top = 0;
        for (size_t k = 0; k < d->nregs; k++) {
            used += d->reg_count[k] > 0;
            if (d->reg_count[k] > top)
                top = d->reg_count[k];
        }
        jw_open(&w, d->name, '{');
        jw_uint(&w, "prescriptions", d->nrx);
        jw_uint(&w, "patients", d->npatients);
        jw_uint(&w, "regimens", d->nregs);
        jw_uint(&w, "regimens_used", used);
        jw_uint(&w, "top_regimen_prescriptions", top);
        jw_open(&w, "doctors", '[');
        for (size_t j = 0; j < g->ndoc; j++) {
            char ref[64];
            snprintf(ref, sizeof ref, "Practitioner/%s", d->docs[j].id);
            jw_open(&w, NULL, '{');
            jw_str(&w, "reference", ref);
            jw_str(&w, "display", d->docs[j].name);
            jw_close(&w, '}');
        }
        jw_close(&w, ']');
        jw_close(&w, '}');
        for (size_t k = 0; k < d->ndrugs; k++)
            if (d->drug_used[k])
                names[nn++] = d->drugs[k].name;
    }
    jw_close(&w, '}');
    qsort(names, nn, sizeof names[0], str_cmp);
    jw_open(&w, "drugs", '[');
    for (size_t k = 0; k < nn; k++)
        if (k == 0 || strcmp(names[k], names[k - 1]) != 0)
            jw_str(&w, NULL, names[k]);
    jw_close(&w, ']');
    jw_close(&w, '}');
    jw_put(&w, "\n", 1);
    if (w.rc != MV_OK) {
        cli_err("cannot build the manifest: %s", mv_strerror(w.rc));
        return -1;
    }
    snprintf(path, sizeof path, "%s/manifest.json", g->outdir);
    return write_file(g, path, b);
}

int write_bundles(gen *g, const uint32_t *pat_of, mv_buf *b)
{
    int ret = -1;
    char path[4096];
    size_t *start = mv_calloc(g->npat + 1, sizeof *start);
    uint32_t *order = mv_mallocarray(g->nrx, sizeof *order);
    if (!start || !order) {
        cli_err("out of memory");
        goto out;
    }
    for (size_t n = 0; n < g->nrx; n++)
        start[pat_of[n] + 1]++;
    for (size_t p = 0; p < g->npat; p++)
        start[p + 1] += start[p];
    for (size_t n = 0; n < g->nrx; n++) /* ascending n within a patient: stable */
        order[start[pat_of[n]]++] = (uint32_t)n;
    for (size_t p = g->npat; p > 0; p--)
        start[p] = start[p - 1];
    start[0] = 0;
    snprintf(path, sizeof path, "%s/bundles", g->outdir);
    if (gen_mkdir(path) != 0)
        goto out;
    for (size_t p = 0; p < g->npat; p++) {
        patient pt;
        jw w;
        char id[37], url[64];
        gen_rng r;
        patient_get(g, p, &pt);
        gen_rng_init(&r, g->seed, DOM_BUNDLE, p);
        make_uuid(&r, id);
        mv_buf_reset(b);
        jw_init(&w, b);
        jw_open(&w, NULL, '{');
        jw_str(&w, "resourceType", "Bundle");
        jw_str(&w, "id", id);
        jw_str(&w, "type", "transaction");
        jw_open(&w, "entry", '[');
        jw_open(&w, NULL, '{');
        snprintf(url, sizeof url, "urn:uuid:%s", pt.id);
        jw_str(&w, "fullUrl", url);
        write_patient(&w, "resource", &pt);
        jw_open(&w, "request", '{');
        jw_str(&w, "method", "PUT");
        snprintf(url, sizeof url, "Patient/%s", pt.id);
        jw_str(&w, "url", url);
        jw_close(&w, '}');
        jw_close(&w, '}');
        for (size_t k = start[p]; k < start[p + 1]; k++) {
            rx x;
            rx_get(g, order[k], &x);
            jw_open(&w, NULL, '{');
            snprintf(url, sizeof url, "urn:uuid:%s", x.id);
            jw_str(&w, "fullUrl", url);
            write_rx(&w, "resource", g, &x, &pt);
            jw_open(&w, "request", '{');
            jw_str(&w, "method", "PUT");
            snprintf(url, sizeof url, "MedicationRequest/%s", x.id);
            jw_str(&w, "url", url);
            jw_close(&w, '}');
            jw_close(&w, '}');
        }
        jw_close(&w, ']');
        jw_close(&w, '}');
        jw_put(&w, "\n", 1);
        if (w.rc != MV_OK) {
            cli_err("cannot build bundle %zu: %s", p + 1, mv_strerror(w.rc));
            goto out;
        }
        if ((size_t)snprintf(path, sizeof path, "%s/bundles/bundle-%zu.json", g->outdir, p + 1) >= sizeof path) {
            cli_err("output path too long");
            goto out;
        }
        if (write_file(g, path, b) != 0)
            goto out;
        if ((p & 1023) == 0)
            cli_progress("bundles", p, g->npat);
    }
    cli_progress("bundles", g->npat, g->npat);
    ret = 0;
out:
    mv_free(start);
    mv_free(order);
    return ret;
}
