/* genemr.h - `medvault gen-emr`'s model, shared by its files: cmd_genemr.c (the command),
 * genemr_model.c (regimens, departments, patients and prescriptions drawn from the seed),
 * genemr_fhir.c (the FHIR R4 files, bundles and manifest) and genemr_fmt.c (identifiers, dates
 * and the pretty JSON writer). Synthetic test data only; nothing here is patient data. */
#ifndef MV_CLI_GENEMR_H
#define MV_CLI_GENEMR_H

#include <stddef.h>
#include <stdint.h>

#include "gen_common.h"
#include "genemr_vocab.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#define MAX_DEPTS 16
#define MAX_REGIMENS (MAX_DRUGS * 4)
#define MAX_RX 10000000u
#define MAX_PATIENTS 5000000u
#define MAX_DOCTORS 1000u
#define ZIPF_S 1.1
#define BASE_YEAR 2025

/* Stream domains of gen_rng_init: one independent stream per kind of item. */
enum { DOM_REGIMENS = 1, DOM_PATIENT, DOM_DOCTOR, DOM_RX, DOM_BUNDLE };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

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

/* The pretty JSON writer (2-space indentation, "key": value, as typical exporters): the first
 * error stops it and stays in rc. */
typedef struct jw {
    mv_buf *b;
    int depth;
    int first;
    mv_err rc;
} jw;

/* genemr_fmt.c: a version 4 UUID from r; days since 1970-01-01 of a Gregorian date; a date, an
 * instant (ms 1000: none) and tenths ("2.5") as text. */
void make_uuid(gen_rng *r, char out[37]);
long days_from_civil(long y, unsigned m, unsigned d);
void fmt_date(char out[16], long days);
void fmt_time(char out[40], long secs, unsigned ms);
void fmt_tenths(char out[24], unsigned long v);

/* genemr_fmt.c: the writer over b (its cap bounds the output); key NULL inside an array. */
void jw_init(jw *w, mv_buf *b);
void jw_put(jw *w, const char *s, size_t n);
void jw_open(jw *w, const char *key, char c);
void jw_close(jw *w, char c);
void jw_str(jw *w, const char *key, const char *v);
void jw_raw(jw *w, const char *key, const char *lexeme);
void jw_uint(jw *w, const char *key, unsigned long long v);
void jw_coding(jw *w, const char *system, const char *code, const char *display);
void jw_quantity(jw *w, const char *key, const char *value, const char *unit, const char *code);
void jw_days(jw *w, const char *key, unsigned days);

/* genemr_model.c: department di's regimens, popularity and doctors; patient i; prescription n.
 * Each depends only on the seed and its index, so any item can be regenerated on its own. */
void dept_setup(gen *g, size_t di);
void patient_get(const gen *g, size_t i, patient *p);
void rx_get(const gen *g, size_t n, rx *x);

/* genemr_fhir.c: a MedicationRequest (with its patient's display) into w; a file of b's bytes
 * (counted in g); the manifest and the bundles (one per patient) under g->outdir, built in b.
 * The int functions return 0, or non-zero after printing why (cli_err). */
void write_rx(jw *w, const char *key, const gen *g, const rx *x, const patient *p);
int write_file(gen *g, const char *path, const mv_buf *b);
int write_manifest(gen *g, mv_buf *b);
int write_bundles(gen *g, const uint32_t *pat_of, mv_buf *b);

#endif
