/* genemr_model.c - gen-emr's workload model (genemr.h): each department's regimens and their
 * Zipf popularity, its doctors, and every patient and prescription, each drawn from its own
 * (seed, domain, index) stream so any one can be regenerated alone. Synthetic data only. */
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

static int regimen_same(const regimen *a, const regimen *b)
{
    return a->d == b->d && a->fq == b->fq && a->dose == b->dose && a->days == b->days &&
           a->refills == b->refills && a->note == b->note;
}

static void regimen_make(const genemr_vocab *voc, regimen *g, const drug *d, gen_rng *r)
{
    size_t nfq = 0, ndose = 0;
    while (nfq < 3 && d->fq[nfq] != FQ_NONE)
        nfq++;
    while (ndose < 2 && d->dose[ndose])
        ndose++;
    const form *fm = &forms[d->form];
    memset(g, 0, sizeof *g);
    g->d = d;
    g->fq = d->fq[gen_below(r, nfq)];
    g->dose = d->dose[gen_below(r, ndose)];
    const freq *f = &freqs[g->fq];
    static const unsigned refills_30[] = {0, 1, 2, 3, 5, 11}, refills_90[] = {0, 1, 3};
    if (d->course) {
        g->days = d->course;
    } else if (f->prn || g->fq == FQ_Q72H) {
        g->days = 30;
        g->refills = f->prn ? (unsigned)gen_below(r, 3) : (unsigned)gen_range(r, 0, 5);
    } else if (g->fq == FQ_QW) {
        g->days = gen_chance(r, 50) ? 28 : 84;
        g->refills = (unsigned)gen_below(r, 4);
    } else if (g->fq == FQ_Q14D || g->fq == FQ_Q21D) {
        g->days = (gen_chance(r, 50) ? 6 : 4) * f->period; /* cycles of chemotherapy */
    } else {
        g->days = gen_chance(r, 40) ? 90 : 30;
        g->refills = g->days == 90 ? refills_90[gen_below(r, COUNT(refills_90))]
                                   : refills_30[gen_below(r, COUNT(refills_30))];
    }
    if (gen_chance(r, 30)) {
        if (fm->route == RT_ORAL || fm->route == RT_SL)
            g->note = voc->oral_notes.s[gen_below(r, voc->oral_notes.n)];
        else
            g->note = voc->parenteral_notes.s[gen_below(r, voc->parenteral_notes.n)];
    }
    /* Administrations over the course; as-needed orders dispense a fixed count. */
    unsigned long admins;
    if (g->fq == FQ_PRN5M)
        admins = 25;
    else if (f->prn)
        admins = 30;
    else if (!strcmp(f->unit, "h"))
        admins = ((unsigned long)g->days * 24 * f->count + f->period - 1) / f->period;
    else if (!strcmp(f->unit, "wk"))
        admins = ((unsigned long)g->days * f->count + 7 * f->period - 1) / (7 * f->period);
    else
        admins = ((unsigned long)g->days * f->count + f->period - 1) / f->period;
    unsigned long units;
    switch (d->form) {
    case FM_SOL:
        g->qty = admins * g->dose;
        break;
    case FM_IV:
    case FM_SCMG:
        g->qty = admins * 10;
        break;
    case FM_PEN: /* 3 mL pens of 100 units/mL */
        units = (admins * g->dose + 9) / 10;
        g->qty = (units + 299) / 300 * 30;
        break;
    case FM_INH: /* 200 actuations per inhaler */
        units = (admins * g->dose + 9) / 10;
        g->qty = (units + 199) / 200 * 10;
        break;
    default: /* whole tablets, capsules, patches */
        g->qty = (admins * g->dose + 9) / 10 * 10;
        break;
    }
    char dose[24];
    fmt_tenths(dose, g->dose);
    const char *unit = g->dose > 10 ? fm->unitn : fm->unit1;
    if (f->prn)
        snprintf(g->text, sizeof g->text, "%s %s %s %s %s.", fm->verb, dose, unit, routes[fm->route].phrase,
                 f->text);
    else
        snprintf(g->text, sizeof g->text, "%s %s %s %s %s for %u days.", fm->verb, dose, unit,
                 routes[fm->route].phrase, f->text, g->days);
}

/* Builds a department's regimens (2 to 4 distinct per drug), their popularity ranks and the
 * Zipf(s = 1.1) cumulative weights, and its doctors. */
void dept_setup(gen *g, size_t di)
{
    dept *d = &g->depts[di];
    const formulary *f = genemr_formulary_for(g->voc, d->name);
    d->drugs = f->drugs;
    d->ndrugs = f->n;
    gen_rng r;
    gen_rng_init(&r, g->seed, DOM_REGIMENS, di);
    for (size_t i = 0; i < d->ndrugs; i++) {
        unsigned want = (unsigned)gen_range(&r, 2, 4);
        for (unsigned k = 0; k < want * 3 && want; k++) {
            regimen cand;
            regimen_make(g->voc, &cand, &d->drugs[i], &r);
            int dup = 0;
            for (size_t j = 0; j < d->nregs && !dup; j++)
                dup = regimen_same(&d->regs[j], &cand);
            if (!dup && d->nregs < MAX_REGIMENS) {
                d->regs[d->nregs++] = cand;
                want--;
            }
        }
    }
    for (size_t i = 0; i < d->nregs; i++)
        d->rank_to_reg[i] = i;
    for (size_t i = d->nregs; i > 1; i--) { /* Fisher-Yates: popularity is not formulary order */
        size_t j = (size_t)gen_below(&r, i), t = d->rank_to_reg[i - 1];
        d->rank_to_reg[i - 1] = d->rank_to_reg[j];
        d->rank_to_reg[j] = t;
    }
    double total = 0;
    for (size_t k = 0; k < d->nregs; k++) {
        total += pow((double)(k + 1), -ZIPF_S);
        d->cum[k] = total;
    }
    for (size_t k = 0; k < d->nregs; k++)
        d->cum[k] /= total;
    for (size_t j = 0; j < g->ndoc; j++) {
        gen_rng dr;
        gen_rng_init(&dr, g->seed, DOM_DOCTOR, di * MAX_DOCTORS + j);
        make_uuid(&dr, d->docs[j].id);
        int fem = gen_chance(&dr, 50);
        const genemr_list *ff = &g->voc->female_first, *mf = &g->voc->male_first, *fam = &g->voc->family_names;
        const char *given = fem ? ff->s[gen_below(&dr, ff->n)] : mf->s[gen_below(&dr, mf->n)];
        snprintf(d->docs[j].name, sizeof d->docs[j].name, "Dr. %s %s", given, fam->s[gen_below(&dr, fam->n)]);
    }
}

void patient_get(const gen *g, size_t i, patient *p)
{
    gen_rng r;
    gen_rng_init(&r, g->seed, DOM_PATIENT, i);
    make_uuid(&r, p->id);
    /* An odd multiplier coprime to 10 permutes [0, 10^8): MRNs are unique for i < 10^8. */
    uint64_t mrn = (gen_mix64(g->seed) % 100000000ULL + (uint64_t)i % 100000000ULL * 54435761ULL) % 100000000ULL;
    snprintf(p->mrn, sizeof p->mrn, "MRN%08llu", (unsigned long long)mrn);
    p->female = gen_chance(&r, 52);
    const genemr_list *ff = &g->voc->female_first, *mf = &g->voc->male_first, *fam = &g->voc->family_names;
    p->given = p->female ? ff->s[gen_below(&r, ff->n)] : mf->s[gen_below(&r, mf->n)];
    p->family = fam->s[gen_below(&r, fam->n)];
    long lo = days_from_civil(1930, 1, 1), hi = days_from_civil(2012, 12, 31);
    p->birth = lo + (long)gen_below(&r, (uint64_t)(hi - lo + 1));
    p->home = &g->voc->cities[gen_below(&r, g->voc->ncities)];
    p->doctor = (size_t)gen_below(&r, g->ndoc);
    p->updated = days_from_civil(BASE_YEAR - 1, 1, 1) * 86400L + (long)gen_below(&r, 365ULL * 86400);
}

static size_t zipf_rank(const dept *d, double u)
{
    size_t lo = 0, hi = d->nregs - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (u < d->cum[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void rx_get(const gen *g, size_t n, rx *x)
{
    gen_rng r;
    gen_rng_init(&r, g->seed, DOM_RX, n);
    memset(x, 0, sizeof *x);
    x->n = n;
    x->dept = n % g->ndept;
    const dept *d = &g->depts[x->dept];
    x->pat = (size_t)gen_below(&r, d->npatients) * g->ndept + x->dept;
    x->reg_index = d->rank_to_reg[zipf_rank(d, gen_unit(&r))];
    x->reg = &d->regs[x->reg_index];
    x->doctor = (size_t)-1; /* the patient's own doctor unless a colleague covers (20%) */
    if (gen_chance(&r, 20))
        x->doctor = (size_t)gen_below(&r, g->ndoc);
    make_uuid(&r, x->id);
    make_uuid(&r, x->encounter);
    long day = days_from_civil(BASE_YEAR, 1, 1) + (long)gen_below(&r, 365);
    x->authored = day * 86400L + 7 * 3600 + 1800 + (long)gen_below(&r, 11 * 3600 + 1800); /* 07:30-19:00 */
    x->updated = x->authored + (long)gen_range(&r, 30, 1800);
    x->updated_ms = (unsigned)gen_below(&r, 1000);
    if (gen_chance(&r, 3))
        x->extra_note = g->voc->extra_notes.s[gen_below(&r, g->voc->extra_notes.n)];
}
