/* genemr_vocab.h - gen-emr's vocabulary: the enumerations its model is written against (routes,
 * dose forms, frequencies) and the tables read from the tables of data/gen-emr, which the build embeds
 * in the CLI (formularies, names, notes, cities). Synthetic test data only; nothing here is
 * patient data, and the drug codes are good enough for workloads, never for care. */
#ifndef MV_CLI_GENEMR_VOCAB_H
#define MV_CLI_GENEMR_VOCAB_H

#include <stddef.h>

#include "core/table.h"
#include "medvault/mv_err.h"

#define MAX_DRUGS 32

enum { RT_ORAL, RT_SL, RT_IV, RT_SC, RT_INH, RT_TD };
enum { FM_TAB, FM_CAP, FM_SL, FM_IV, FM_SCMG, FM_PEN, FM_INH, FM_PATCH, FM_SOL };
enum { FQ_NONE, FQ_QD, FQ_BID, FQ_TID, FQ_QHS, FQ_QW, FQ_Q14D, FQ_Q21D, FQ_Q72H, FQ_PRN6H, FQ_PRN5M };

typedef struct route {
    const char *code, *display, *phrase; /* SNOMED CT route of administration */
} route;

/* Dose and dispense units are UCUM (http://unitsofmeasure.org); countable forms use UCUM
 * annotations ({tbl}) as US Core's examples do. */
typedef struct form {
    const char *verb, *unit1, *unitn, *dose_code, *disp_unit, *disp_code;
    int route;
    const char *category; /* medicationrequest-category */
} form;

typedef struct freq {
    unsigned count, period;
    const char *unit; /* Timing.repeat.periodUnit: s | min | h | d | wk | mo | a */
    const char *when; /* Timing.repeat.when (EventTiming) or NULL */
    int prn;
    const char *text;
} freq;

/* The model's fixed vocabulary, indexed by RT_, FM_ and FQ_ (genemr_vocab.c): code, not data,
 * since regimen_make's dispensing rules are written against these very entries. */
extern const route routes[];
extern const form forms[];
extern const freq freqs[];

typedef struct drug {
    const char *code, *name;
    int form;
    unsigned char fq[3];     /* allowed frequencies, FQ_NONE-terminated */
    unsigned short dose[2];  /* dose options in tenths of the form's dose unit; 0 = unused */
    unsigned short course;   /* fixed course in days (antibiotics, steroid bursts), 0 = chronic */
} drug;

typedef struct city {
    const char *name, *state, *zip;
} city;

/* A department's drugs, in file order (at most MAX_DRUGS). */
typedef struct formulary {
    const char *dept;
    drug *drugs;
    size_t n;
    mv_table t;
} formulary;

/* A one-column table's strings: the table's own cells (owned by it, not freed apart). */
typedef struct genemr_list {
    const char **s;
    size_t n;
} genemr_list;

#define GENEMR_DEPTS 4

/* Everything read from data/gen-emr/; every string points into one of the tables (owned). */
typedef struct genemr_vocab {
    formulary depts[GENEMR_DEPTS]; /* cardiology, neurology, oncology, endocrinology */
    formulary general;             /* any other department name */
    mv_table t_oral, t_parenteral, t_extra, t_female, t_male, t_family, t_cities;
    genemr_list oral_notes, parenteral_notes, extra_notes, female_first, male_first, family_names;
    city *cities;
    size_t ncities;
} genemr_vocab;

/* Parses the embedded tables into *v (caller-owned; genemr_vocab_clear frees it, also after an
 * error). Errors: MV_ERR_NOMEM, MV_ERR_PARSE (a malformed table or an unknown form or
 * frequency name: a build defect), MV_ERR_TOO_LARGE (a formulary over MAX_DRUGS). */
mv_err genemr_vocab_load(genemr_vocab *v) __attribute__((warn_unused_result));

/* The formulary of department name: its own, or the general one. */
const formulary *genemr_formulary_for(const genemr_vocab *v, const char *name);

/* Frees what v owns; v may be NULL or already clear. */
void genemr_vocab_clear(genemr_vocab *v);

#endif
