/* decoy_vocab.h - the decoy generator's vocabulary (drugs, vital signs, conditions, panels,
 * names, words), read from the frozen v1 tables in data/decoy-v1/ that the build embeds.
 * Internal to libmedvault.
 *
 * Frozen: a decoy's bytes must never change across upgrades (docs/decoy.md, Determinism), so
 * these tables are never edited, even where a code is wrong (docs/decisions/0011). A later
 * generator version gets its own set. */
#ifndef MV_STORAGE_DECOY_VOCAB_H
#define MV_STORAGE_DECOY_VOCAB_H

#include <stddef.h>

#include "core/table.h"
#include "medvault/mv_err.h"

typedef struct drug {
    const char *dept, *rxcui, *display, *short_name;
    double dose;
    const char *unit, *ucum, *form, *form_code, *route, *route_code;
    unsigned per_day;
} drug;

typedef struct vital {
    const char *loinc, *display, *unit, *ucum;
    double lo, hi;
    unsigned decimals;
    const char *cat;
} vital;

typedef struct condition {
    const char *snomed, *display, *icd10;
} condition;

typedef struct panel {
    const char *loinc, *display;
} panel;

/* A one-column table's strings: the table's own cells (owned by it, not freed apart). */
typedef struct decoy_words {
    const char **w;
    size_t n;
} decoy_words;

/* The parsed v1 vocabulary; every string points into one of the tables (owned). */
typedef struct decoy_vocab {
    mv_table t_drugs, t_vitals, t_conditions, t_panels, t_female, t_male, t_family, t_words, t_labels;
    drug *drugs;
    size_t n_drugs;
    vital *vitals;
    size_t n_vitals;
    condition *conditions;
    size_t n_conditions;
    panel *panels;
    size_t n_panels;
    decoy_words female_first, male_first, family, words, labels;
} decoy_vocab;

/* Parses the embedded v1 tables into *v (caller-owned; decoy_vocab_clear frees it, also after
 * an error). Errors: MV_ERR_NOMEM, MV_ERR_PARSE (a malformed table: a build defect). */
mv_err decoy_vocab_load(decoy_vocab *v) __attribute__((warn_unused_result));

/* Frees what v owns; v may be NULL or already clear. */
void decoy_vocab_clear(decoy_vocab *v);

#endif
