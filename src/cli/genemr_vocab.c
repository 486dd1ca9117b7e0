/* genemr_vocab.c - reads gen-emr's vocabulary (genemr_vocab.h) from the tables the build embeds
 * from data/gen-emr/ (mv_embed_tables in CMakeLists.txt), with the same table reader as the
 * decoy generator. Rows keep their file order: gen-emr draws indexes, so order is output. */
#include <string.h>

#include "genemr_vocab.h"
#include "medvault/mv_mem.h"

const route routes[] = {
    [RT_ORAL] = {"26643006", "Oral route", "by mouth"},
    [RT_SL] = {"37839007", "Sublingual route", "under the tongue"},
    [RT_IV] = {"47625008", "Intravenous route", "intravenously"},
    [RT_SC] = {"34206005", "Subcutaneous route", "subcutaneously"},
    [RT_INH] = {"447694001", "Respiratory tract route", "by inhalation"},
    [RT_TD] = {"45890007", "Transdermal route", "to the skin"},
};

const form forms[] = {
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

const freq freqs[] = {
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


#define EMBEDDED(name) extern const unsigned char genemr_##name[]; extern const size_t genemr_##name##_len
EMBEDDED(formulary_cardiology);
EMBEDDED(formulary_neurology);
EMBEDDED(formulary_oncology);
EMBEDDED(formulary_endocrinology);
EMBEDDED(formulary_general);
EMBEDDED(notes_oral);
EMBEDDED(notes_parenteral);
EMBEDDED(notes_extra);
EMBEDDED(female_given);
EMBEDDED(male_given);
EMBEDDED(family);
EMBEDDED(cities);

/* The names a formulary row uses for a form and a frequency, indexed by FM_ and FQ_. */
static const char *const form_names[] = {
    [FM_TAB] = "tab", [FM_CAP] = "cap", [FM_SL] = "sl", [FM_IV] = "iv", [FM_SCMG] = "scmg",
    [FM_PEN] = "pen", [FM_INH] = "inh", [FM_PATCH] = "patch", [FM_SOL] = "sol",
};
static const char *const freq_names[] = {
    [FQ_NONE] = "", [FQ_QD] = "qd", [FQ_BID] = "bid", [FQ_TID] = "tid", [FQ_QHS] = "qhs", [FQ_QW] = "qw",
    [FQ_Q14D] = "q14d", [FQ_Q21D] = "q21d", [FQ_Q72H] = "q72h", [FQ_PRN6H] = "prn6h", [FQ_PRN5M] = "prn5m",
};

/* Index of s[0..n) in names[first..count), or -1. */
static int name_index(const char *const *names, size_t first, size_t count, const char *s, size_t n)
{
    for (size_t i = first; i < count; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
            return (int)i;
    return -1;
}

/* Splits the comma list s into at most max items, each item() accepts; returns the count, or 0
 * (nothing valid) when an item is rejected, empty, or there are more than max. */
static size_t split_list(const char *s, size_t max, int (*item)(const char *p, size_t n, size_t i, void *ctx), void *ctx)
{
    size_t count = 0;
    for (const char *p = s;; count++) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (count >= max || n == 0 || !item(p, n, count, ctx))
            return 0;
        if (!comma)
            return count + 1;
        p = comma + 1;
    }
}

static int freq_item(const char *p, size_t n, size_t i, void *ctx)
{
    int fq = name_index(freq_names, 1, sizeof freq_names / sizeof *freq_names, p, n);
    ((drug *)ctx)->fq[i] = (unsigned char)(fq > 0 ? fq : 0);
    return fq > 0;
}

static int dose_item(const char *p, size_t n, size_t i, void *ctx)
{
    unsigned long v = 0;
    for (size_t k = 0; k < n; k++) {
        if (p[k] < '0' || p[k] > '9' || v > 6553)
            return 0;
        v = v * 10 + (unsigned long)(p[k] - '0');
    }
    ((drug *)ctx)->dose[i] = (unsigned short)v;
    return v > 0 && v <= 65535;
}

static mv_err formulary_load(formulary *f, const char *dept, const unsigned char *p, size_t len)
{
    unsigned long course = 0;
    mv_err rc = mv_table_parse((const char *)p, len, 6, &f->t);
    f->dept = dept;
    if (rc == MV_OK && (f->t.rows == 0 || f->t.rows > MAX_DRUGS))
        rc = f->t.rows ? MV_ERR_TOO_LARGE : MV_ERR_PARSE;
    if (rc == MV_OK && !(f->drugs = mv_calloc(f->t.rows, sizeof *f->drugs)))
        rc = MV_ERR_NOMEM;
    for (size_t i = 0; rc == MV_OK && i < f->t.rows; i++) {
        drug *d = &f->drugs[i];
        const char *fm = mv_table_cell(&f->t, i, 2);
        d->code = mv_table_cell(&f->t, i, 0);
        d->name = mv_table_cell(&f->t, i, 1);
        d->form = name_index(form_names, 0, sizeof form_names / sizeof *form_names, fm, strlen(fm));
        if (d->form < 0 || !split_list(mv_table_cell(&f->t, i, 3), 3, freq_item, d) ||
            !split_list(mv_table_cell(&f->t, i, 4), 2, dose_item, d))
            rc = MV_ERR_PARSE;
        else if ((rc = mv_table_uint(&f->t, i, 5, 365, &course)) == MV_OK)
            d->course = (unsigned short)course;
    }
    if (rc == MV_OK)
        f->n = f->t.rows;
    return rc;
}

/* A one-column table's cells are already its list of strings. */
static mv_err list_load(genemr_list *l, mv_table *t, const unsigned char *p, size_t len)
{
    mv_err rc = mv_table_parse((const char *)p, len, 1, t);
    if (rc == MV_OK && t->rows == 0)
        rc = MV_ERR_PARSE; /* gen_below needs at least one item */
    if (rc == MV_OK) {
        l->s = t->cells;
        l->n = t->rows;
    }
    return rc;
}

static mv_err cities_load(genemr_vocab *v)
{
    const mv_table *t = &v->t_cities;
    mv_err rc = mv_table_parse((const char *)genemr_cities, genemr_cities_len, 3, &v->t_cities);
    if (rc == MV_OK && t->rows == 0)
        rc = MV_ERR_PARSE;
    if (rc == MV_OK && !(v->cities = mv_calloc(t->rows, sizeof *v->cities)))
        rc = MV_ERR_NOMEM;
    for (size_t i = 0; rc == MV_OK && i < t->rows; i++)
        v->cities[i] = (city){mv_table_cell(t, i, 0), mv_table_cell(t, i, 1), mv_table_cell(t, i, 2)};
    if (rc == MV_OK)
        v->ncities = t->rows;
    return rc;
}

mv_err genemr_vocab_load(genemr_vocab *v)
{
    mv_err rc;
    memset(v, 0, sizeof *v);
    if ((rc = formulary_load(&v->depts[0], "cardiology", genemr_formulary_cardiology,
                             genemr_formulary_cardiology_len)) != MV_OK ||
        (rc = formulary_load(&v->depts[1], "neurology", genemr_formulary_neurology, genemr_formulary_neurology_len)) !=
            MV_OK ||
        (rc = formulary_load(&v->depts[2], "oncology", genemr_formulary_oncology, genemr_formulary_oncology_len)) !=
            MV_OK ||
        (rc = formulary_load(&v->depts[3], "endocrinology", genemr_formulary_endocrinology,
                             genemr_formulary_endocrinology_len)) != MV_OK ||
        (rc = formulary_load(&v->general, "", genemr_formulary_general, genemr_formulary_general_len)) != MV_OK)
        goto out;
    if ((rc = list_load(&v->oral_notes, &v->t_oral, genemr_notes_oral, genemr_notes_oral_len)) != MV_OK ||
        (rc = list_load(&v->parenteral_notes, &v->t_parenteral, genemr_notes_parenteral,
                        genemr_notes_parenteral_len)) != MV_OK ||
        (rc = list_load(&v->extra_notes, &v->t_extra, genemr_notes_extra, genemr_notes_extra_len)) != MV_OK ||
        (rc = list_load(&v->female_first, &v->t_female, genemr_female_given, genemr_female_given_len)) != MV_OK ||
        (rc = list_load(&v->male_first, &v->t_male, genemr_male_given, genemr_male_given_len)) != MV_OK ||
        (rc = list_load(&v->family_names, &v->t_family, genemr_family, genemr_family_len)) != MV_OK)
        goto out;
    rc = cities_load(v);
out:
    if (rc != MV_OK)
        genemr_vocab_clear(v);
    return rc;
}

const formulary *genemr_formulary_for(const genemr_vocab *v, const char *name)
{
    for (size_t i = 0; i < GENEMR_DEPTS; i++)
        if (!strcmp(v->depts[i].dept, name))
            return &v->depts[i];
    return &v->general;
}

static void formulary_clear(formulary *f)
{
    mv_free(f->drugs);
    mv_table_clear(&f->t);
    memset(f, 0, sizeof *f);
}

void genemr_vocab_clear(genemr_vocab *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < GENEMR_DEPTS; i++)
        formulary_clear(&v->depts[i]);
    formulary_clear(&v->general);
    mv_free(v->cities);
    mv_table_clear(&v->t_oral);
    mv_table_clear(&v->t_parenteral);
    mv_table_clear(&v->t_extra);
    mv_table_clear(&v->t_female);
    mv_table_clear(&v->t_male);
    mv_table_clear(&v->t_family);
    mv_table_clear(&v->t_cities);
    memset(v, 0, sizeof *v);
}
