/* cmd_genemr.c - `medvault gen-emr`: a synthetic, seed-deterministic FHIR R4 prescription
 * workload for tests and benchmarks. Every name, date and identifier is invented; nothing here
 * is patient data. Drug codes are RxNorm-like (most are real RxCUIs of the named clinical drug,
 * some are only plausible): good enough for workloads, never for care. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "gen_common.h"
#include "genemr_vocab.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

#define MAX_DEPTS 16
#define MAX_REGIMENS (MAX_DRUGS * 4)
#define MAX_RX 10000000u
#define MAX_PATIENTS 5000000u
#define MAX_DOCTORS 1000u
#define ZIPF_S 1.1
#define BASE_YEAR 2025

/* Stream domains of gen_rng_init: one independent stream per kind of item. */
enum { DOM_REGIMENS = 1, DOM_PATIENT, DOM_DOCTOR, DOM_RX, DOM_BUNDLE };

/* ---- vocabulary -------------------------------------------------------------------------- */

typedef struct route {
    const char *code, *display, *phrase; /* SNOMED CT route of administration */
} route;

static const route routes[] = {
    [RT_ORAL] = {"26643006", "Oral route", "by mouth"},
    [RT_SL] = {"37839007", "Sublingual route", "under the tongue"},
    [RT_IV] = {"47625008", "Intravenous route", "intravenously"},
    [RT_SC] = {"34206005", "Subcutaneous route", "subcutaneously"},
    [RT_INH] = {"447694001", "Respiratory tract route", "by inhalation"},
    [RT_TD] = {"45890007", "Transdermal route", "to the skin"},
};

/* Dose and dispense units are UCUM (http://unitsofmeasure.org); countable forms use UCUM
 * annotations ({tbl}) as US Core's examples do. */
typedef struct form {
    const char *verb, *unit1, *unitn, *dose_code, *disp_unit, *disp_code;
    int route;
    const char *category; /* medicationrequest-category */
} form;

static const form forms[] = {
    [FM_TAB] = {"Take", "tablet", "tablets", "{tbl}", "tablet", "{tbl}", RT_ORAL, "outpatient"},
    [FM_CAP] = {"Take", "capsule", "capsules", "{capsule}", "capsule", "{capsule}", RT_ORAL, "outpatient"},
    [FM_SL] = {"Dissolve", "tablet", "tablets", "{tbl}", "tablet", "{tbl}", RT_SL, "outpatient"},
    [FM_IV] = {"Infuse", "mg", "mg", "mg", "vial", "{vial}", RT_IV, "inpatient"},
    [FM_SCMG] = {"Inject", "mg", "mg", "mg", "syringe", "{syringe}", RT_SC, "outpatient"},
    [FM_PEN] = {"Inject", "unit", "units", "[iU]", "mL", "mL", RT_SC, "outpatient"},
    [FM_INH] = {"Inhale", "puff", "puffs", "{puff}", "inhaler", "{inhaler}", RT_INH, "outpatient"},
    [FM_PATCH] = {"Apply", "patch", "patches", "{patch}", "patch", "{patch}", RT_TD, "outpatient"},
    [FM_SOL] = {"Take", "mL", "mL", "mL", "mL", "mL", RT_ORAL, "outpatient"},
};

typedef struct freq {
    unsigned count, period;
    const char *unit; /* Timing.repeat.periodUnit: s | min | h | d | wk | mo | a */
    const char *when; /* Timing.repeat.when (EventTiming) or NULL */
    int prn;
    const char *text;
} freq;

static const freq freqs[] = {
    [FQ_NONE] = {0, 0, "d", NULL, 0, ""},
    [FQ_QD] = {1, 1, "d", NULL, 0, "once daily"},
    [FQ_BID] = {2, 1, "d", NULL, 0, "twice daily"},
    [FQ_TID] = {3, 1, "d", NULL, 0, "three times daily"},
    [FQ_QHS] = {1, 1, "d", "HS", 0, "once daily at bedtime"},
    [FQ_QW] = {1, 1, "wk", NULL, 0, "once weekly"},
    [FQ_Q14D] = {1, 14, "d", NULL, 0, "once every 14 days"},
    [FQ_Q21D] = {1, 21, "d", NULL, 0, "once every 21 days"},
    [FQ_Q72H] = {1, 72, "h", NULL, 0, "every 72 hours"},
    [FQ_PRN6H] = {1, 6, "h", NULL, 1, "every 6 hours as needed"},
    [FQ_PRN5M] = {1, 5, "min", NULL, 1, "every 5 minutes as needed for chest pain, up to 3 doses"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The formularies, names, notes and cities are the tables of data/gen-emr (genemr_vocab.c). */

/* ---- model ------------------------------------------------------------------------------- */

typedef struct regimen {
    const drug *d;
    int fq;
    unsigned dose, days, refills;
    unsigned long qty; /* tenths of the dispense unit */
    const char *note;
    char text[200];
} regimen;

typedef struct doctor {
    char id[37];
    char name[64];
} doctor;

typedef struct dept {
    char name[33];
    const drug *drugs;
    size_t ndrugs;
    regimen regs[MAX_REGIMENS];
    size_t nregs;
    size_t rank_to_reg[MAX_REGIMENS];
    double cum[MAX_REGIMENS]; /* cumulative Zipf weights by rank, normalised to 1 */
    doctor *docs;
    size_t npatients;
    size_t nrx;
    unsigned long reg_count[MAX_REGIMENS];
    unsigned char drug_used[MAX_DRUGS];
} dept;

typedef struct gen {
    uint64_t seed;
    const genemr_vocab *voc;
    size_t nrx, npat, ndoc, ndept;
    dept *depts;
    const char *outdir;
    unsigned long long bytes, files;
} gen;

typedef struct patient {
    char id[37];
    char mrn[16];
    const char *given, *family;
    int female;
    long birth;       /* days since 1970-01-01 */
    long updated;     /* seconds since 1970-01-01 */
    const city *home;
    size_t doctor;    /* index into its department's doctors */
} patient;

typedef struct rx {
    size_t n;         /* 0-based global index */
    size_t dept, pat;
    const regimen *reg;
    size_t reg_index;
    size_t doctor;
    char id[37], encounter[37];
    long authored;    /* seconds since 1970-01-01 (UTC) */
    unsigned updated_ms;
    long updated;
    const char *extra_note;
} rx;

/* ---- small helpers ----------------------------------------------------------------------- */

static void make_uuid(gen_rng *r, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    uint64_t a = gen_next(r), c = gen_next(r);
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(a >> (8 * i));
        b[8 + i] = (uint8_t)(c >> (8 * i));
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 (RFC 9562 section 5.4) */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

/* Days since 1970-01-01 from a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static void civil_from_days(long z, long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const long era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (long)yoe + era * 400 + (*m <= 2);
}

static void fmt_date(char out[16], long days)
{
    long y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, 16, "%04u-%02u-%02u", (unsigned)((unsigned long)y % 10000), m % 100, d % 100);
}

/* FHIR dateTime / instant in UTC; ms < 1000 adds milliseconds, otherwise none. */
static void fmt_time(char out[40], long secs, unsigned ms)
{
    char date[16];
    unsigned rem = (unsigned)(secs % 86400);
    fmt_date(date, secs / 86400);
    if (ms < 1000)
        snprintf(out, 40, "%sT%02u:%02u:%02u.%03uZ", date, rem / 3600, rem / 60 % 60, rem % 60, ms);
    else
        snprintf(out, 40, "%sT%02u:%02u:%02uZ", date, rem / 3600, rem / 60 % 60, rem % 60);
}

/* A decimal from tenths: "2", "0.5", "2.5" (FHIR decimals keep their lexeme). */
static void fmt_tenths(char out[24], unsigned long v)
{
    if (v % 10)
        snprintf(out, 24, "%lu.%lu", v / 10, v % 10);
    else
        snprintf(out, 24, "%lu", v / 10);
}

/* ---- pretty JSON writer (2-space indentation, "key": value, as typical exporters) -------- */

typedef struct jw {
    mv_buf *b;
    int depth;
    int first;
    mv_err rc;
} jw;

static void jw_init(jw *w, mv_buf *b)
{
    w->b = b;
    w->depth = 0;
    w->first = 1;
    w->rc = MV_OK;
}

static void jw_put(jw *w, const char *s, size_t n)
{
    if (w->rc == MV_OK)
        w->rc = mv_buf_append(w->b, s, n);
}

static void jw_quoted(jw *w, const char *s)
{
    if (w->rc == MV_OK)
        w->rc = mv_json_write_str(w->b, s, strlen(s));
}

static void jw_newline(jw *w)
{
    static const char spaces[] = "                                                                ";
    size_t n = (size_t)w->depth * 2;
    jw_put(w, "\n", 1);
    jw_put(w, spaces, n < sizeof spaces - 1 ? n : sizeof spaces - 1);
}

static void jw_item(jw *w, const char *key)
{
    if (!w->first)
        jw_put(w, ",", 1);
    if (w->depth > 0)
        jw_newline(w);
    w->first = 0;
    if (key) {
        jw_quoted(w, key);
        jw_put(w, ": ", 2);
    }
}

static void jw_open(jw *w, const char *key, char c)
{
    jw_item(w, key);
    jw_put(w, &c, 1);
    w->depth++;
    w->first = 1;
}

static void jw_close(jw *w, char c)
{
    w->depth--;
    if (!w->first)
        jw_newline(w);
    jw_put(w, &c, 1);
    w->first = 0;
}

static void jw_str(jw *w, const char *key, const char *v)
{
    jw_item(w, key);
    jw_quoted(w, v);
}

static void jw_raw(jw *w, const char *key, const char *lexeme)
{
    jw_item(w, key);
    jw_put(w, lexeme, strlen(lexeme));
}

static void jw_uint(jw *w, const char *key, unsigned long long v)
{
    char t[24];
    snprintf(t, sizeof t, "%llu", v);
    jw_raw(w, key, t);
}

static void jw_coding(jw *w, const char *system, const char *code, const char *display)
{
    jw_open(w, NULL, '{');
    jw_str(w, "system", system);
    jw_str(w, "code", code);
    if (display)
        jw_str(w, "display", display);
    jw_close(w, '}');
}

static void jw_quantity(jw *w, const char *key, const char *value, const char *unit, const char *code)
{
    jw_open(w, key, '{');
    jw_raw(w, "value", value);
    jw_str(w, "unit", unit);
    jw_str(w, "system", "http://unitsofmeasure.org");
    jw_str(w, "code", code);
    jw_close(w, '}');
}

static void jw_days(jw *w, const char *key, unsigned days)
{
    char t[24];
    snprintf(t, sizeof t, "%u", days);
    jw_quantity(w, key, t, "days", "d");
}

/* ---- generation -------------------------------------------------------------------------- */

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
static void dept_setup(gen *g, size_t di)
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

static void patient_get(const gen *g, size_t i, patient *p)
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

static void rx_get(const gen *g, size_t n, rx *x)
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

static void write_rx(jw *w, const char *key, const gen *g, const rx *x, const patient *p)
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
static int write_file(gen *g, const char *path, const mv_buf *b)
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

static int write_manifest(gen *g, mv_buf *b)
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

static int write_bundles(gen *g, const uint32_t *pat_of, mv_buf *b)
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

static int parse_departments(const char *arg, gen *g)
{
    size_t n = 0;
    const char *s = arg;
    while (1) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0 || len > 32) {
            cli_err("--departments: each name must be 1 to 32 characters");
            return -1;
        }
        for (size_t i = 0; i < len; i++) {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
                cli_err("--departments: names use lowercase letters, digits and '-'");
                return -1;
            }
        }
        if (n == MAX_DEPTS) {
            cli_err("--departments: at most %d departments", MAX_DEPTS);
            return -1;
        }
        if (len == 7 && !memcmp(s, "bundles", 7)) {
            cli_err("--departments: 'bundles' is reserved");
            return -1;
        }
        memcpy(g->depts[n].name, s, len);
        g->depts[n].name[len] = '\0';
        for (size_t j = 0; j < n; j++)
            if (!strcmp(g->depts[j].name, g->depts[n].name)) {
                cli_err("--departments: '%s' given twice", g->depts[n].name);
                return -1;
            }
        n++;
        if (!e)
            break;
        s = e + 1;
    }
    g->ndept = n;
    return 0;
}

static const char genemr_usage[] =
    "usage: medvault gen-emr OUTDIR N [--departments a,b,c] [--seed S] [--patients P]\n"
    "                        [--doctors D] [--bundles] [--json]\n\n"
    "Generates N synthetic FHIR R4 MedicationRequest resources (a prescription workload for tests\n"
    "and benchmarks), the same bytes for the same arguments. Prescriptions are split evenly over the\n"
    "departments (default cardiology,neurology,oncology,endocrinology; other names get a general\n"
    "formulary). Each department has a formulary of RxNorm-coded drugs and a set of regimens (drug,\n"
    "dose, route, frequency, duration, quantity, refills) whose popularity follows Zipf's law\n"
    "(s = 1.1), so a few regimens dominate as in real prescribing. Patients (default N/3, at least\n"
    "one per department) belong to one department each; D doctors (default 8) per department.\n"
    "authoredOn dates spread over 2025. Names, identifiers and dates are invented.\n\n"
    "Writes OUTDIR/<dept>/rx-<n>.json (n = 1..N, pretty-printed), with --bundles also\n"
    "OUTDIR/bundles/bundle-<p>.json (one transaction Bundle per patient: the Patient and their\n"
    "prescriptions), and OUTDIR/manifest.json (seed, counts per department, regimens used,\n"
    "doctors, and every drug name used). OUTDIR must be absent or empty. N <= 10,000,000.\n"
    "--seed S (default 1) picks the workload; --json prints a summary object.\n";

int cmd_genemr(int argc, char **argv)
{
    static const struct option opts[] = {
        {"departments", required_argument, NULL, 'D'}, {"seed", required_argument, NULL, 's'},
        {"patients", required_argument, NULL, 'p'},    {"doctors", required_argument, NULL, 'd'},
        {"bundles", no_argument, NULL, 'b'},           {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0},
    };
    const char *depts_arg = "cardiology,neurology,oncology,endocrinology";
    uint64_t seed = 1, npat = 0, ndoc = 8, nrx = 0;
    int c, json = 0, bundles = 0, ret = CLI_FAIL;
    gen g;
    genemr_vocab voc;
    mv_buf b;
    uint32_t *pat_of = NULL;
    double t0, t1;

    memset(&g, 0, sizeof g);
    memset(&voc, 0, sizeof voc);
    mv_buf_init(&b, 64u << 20);
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'D': depts_arg = optarg; break;
        case 's': if (cli_u64_arg(optarg, 0, UINT64_MAX, &seed, "--seed")) return CLI_USAGE; break;
        case 'p': if (cli_u64_arg(optarg, 1, MAX_PATIENTS, &npat, "--patients")) return CLI_USAGE; break;
        case 'd': if (cli_u64_arg(optarg, 1, MAX_DOCTORS, &ndoc, "--doctors")) return CLI_USAGE; break;
        case 'b': bundles = 1; break;
        case 'j': json = 1; break;
        case 'h': return cli_usage(genemr_usage, 1);
        default: return cli_usage(genemr_usage, 0);
        }
    }
    if (optind != argc - 2)
        return cli_usage(genemr_usage, 0);
    if (cli_u64_arg(argv[optind + 1], 1, MAX_RX, &nrx, "N"))
        return CLI_USAGE;
    g.depts = mv_calloc(MAX_DEPTS, sizeof *g.depts);
    if (!g.depts) {
        cli_err("out of memory");
        return CLI_FAIL;
    }
    mv_err vrc = genemr_vocab_load(&voc);
    if (vrc != MV_OK) {
        cli_err("cannot read the built-in vocabulary: %s", mv_strerror(vrc));
        goto out;
    }
    g.voc = &voc;
    if (parse_departments(depts_arg, &g) != 0) {
        ret = CLI_USAGE;
        goto out;
    }
    if (npat == 0)
        npat = nrx / 3 > g.ndept ? nrx / 3 : g.ndept;
    if (npat < g.ndept) {
        cli_err("--patients must be at least the number of departments (%zu)", g.ndept);
        ret = CLI_USAGE;
        goto out;
    }
    g.seed = seed;
    g.nrx = (size_t)nrx;
    g.npat = (size_t)npat;
    g.ndoc = (size_t)ndoc;
    g.outdir = argv[optind];
    if (strlen(g.outdir) > 3000) {
        cli_err("OUTDIR is too long");
        ret = CLI_USAGE;
        goto out;
    }
    t0 = mv_mono_seconds();
    if (!gen_prepare_outdir(g.outdir))
        goto out;
    for (size_t i = 0; i < g.ndept; i++) {
        dept *d = &g.depts[i];
        char path[4096];
        if (!(d->docs = mv_calloc(g.ndoc, sizeof *d->docs))) {
            cli_err("out of memory");
            goto out;
        }
        d->npatients = (g.npat - i + g.ndept - 1) / g.ndept;
        d->nrx = (g.nrx - i + g.ndept - 1) / g.ndept;
        dept_setup(&g, i);
        snprintf(path, sizeof path, "%s/%s", g.outdir, d->name);
        if (gen_mkdir(path) != 0)
            goto out;
    }
    if (bundles && !(pat_of = mv_mallocarray(g.nrx, sizeof *pat_of))) {
        cli_err("out of memory");
        goto out;
    }
    for (size_t n = 0; n < g.nrx; n++) {
        rx x;
        patient p;
        jw w;
        char path[4096];
        rx_get(&g, n, &x);
        patient_get(&g, x.pat, &p);
        dept *d = &g.depts[x.dept];
        d->reg_count[x.reg_index]++;
        d->drug_used[x.reg->d - d->drugs] = 1;
        if (pat_of)
            pat_of[n] = (uint32_t)x.pat;
        mv_buf_reset(&b);
        jw_init(&w, &b);
        write_rx(&w, NULL, &g, &x, &p);
        jw_put(&w, "\n", 1);
        if (w.rc != MV_OK) {
            cli_err("cannot build prescription %zu: %s", n + 1, mv_strerror(w.rc));
            goto out;
        }
        snprintf(path, sizeof path, "%s/%s/rx-%zu.json", g.outdir, d->name, n + 1);
        if (write_file(&g, path, &b) != 0)
            goto out;
        if ((n & 1023) == 0)
            cli_progress("prescriptions", n, g.nrx);
    }
    cli_progress("prescriptions", g.nrx, g.nrx);
    if (pat_of && write_bundles(&g, pat_of, &b) != 0)
        goto out;
    if (write_manifest(&g, &b) != 0)
        goto out;
    t1 = mv_mono_seconds();
    double secs = t1 - t0;
    if (json) {
        mv_buf_reset(&b);
        mv_err rc = mv_buf_puts(&b, "{\"outdir\":");
        if (rc == MV_OK)
            rc = mv_json_write_str(&b, g.outdir, strlen(g.outdir));
        if (rc == MV_OK)
            rc = mv_buf_printf(&b,
                               ",\"seed\":%llu,\"prescriptions\":%zu,\"patients\":%zu,\"departments\":%zu,"
                               "\"doctors\":%zu,\"bundles\":%zu,\"files\":%llu,\"bytes\":%llu,\"seconds\":%.3f}\n",
                               (unsigned long long)g.seed, g.nrx, g.npat, g.ndept, g.ndoc * g.ndept,
                               bundles ? g.npat : 0, g.files, g.bytes, secs);
        if (rc != MV_OK) {
            cli_err("cannot build the summary: %s", mv_strerror(rc));
            goto out;
        }
        ret = cli_print_buf(&b);
    } else {
        printf("%zu prescriptions for %zu patients in %zu departments%s: %llu files, %.1f MB in %s (%.1f s)\n",
               g.nrx, g.npat, g.ndept, bundles ? " with bundles" : "", g.files, (double)g.bytes / 1e6, g.outdir,
               secs);
        ret = CLI_OK;
    }
out:
    if (g.depts)
        for (size_t i = 0; i < MAX_DEPTS; i++)
            mv_free(g.depts[i].docs);
    mv_free(g.depts);
    mv_free(pat_of);
    genemr_vocab_clear(&voc);
    mv_buf_clear(&b);
    return ret;
}
