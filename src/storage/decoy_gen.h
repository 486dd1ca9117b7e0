/* decoy_gen.h - the decoy record generator's state and its content writer, shared by
 * decoy_gen.c (sizes, compression, blocks, envelopes, the public API) and decoy_content.c (the
 * vocabularies and the FHIR resources whose knobs the size search turns). Internal to
 * libmedvault. */
#ifndef MV_STORAGE_DECOY_GEN_H
#define MV_STORAGE_DECOY_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_decoy.h"
#include "medvault/mv_fhir.h"
#include "decoy_drbg.h"
#include "decoy_vocab.h"

/* The resource types a decoy's entries have. */
enum { T_MEDREQ, T_VITAL, T_CONDITION, T_REPORT, T_ECG, T_ENCOUNTER, T_PATIENT };

/* One knob text stream (knob_text) as far as it was drawn: every size search asks for prefixes
 * of the same few streams at a dozen lengths, so each is drawn once and then copied. */
#define TEXT_STREAMS 8
typedef struct text_stream {
    int used, samples;
    uint64_t e;
    unsigned v;
    drbg d;     /* where the stream continues */
    long level; /* samples: the walk's level */
    mv_buf text; /* the stream's first text.len characters */
} text_stream;

/* A part as a template (tpl_make): the part's JSON at any knob in its range is text with the
 * first knob - delta characters of stream (e, v, samples) in place of KNOB_MARK at offset at.
 * key names what the part was built from (the template is remade when it changes). */
typedef struct knob_tpl {
    int state; /* 0 none, 2 made (its first use not yet checked), 1 usable, -1 not usable */
    uint64_t key[4];
    uint64_t e;
    unsigned v;
    int samples;
    size_t at, delta;
    mv_buf text;
} knob_tpl;

typedef struct gen {
    const mv_decoy_shape *s;
    uint8_t k[32]; /* the record's key (secret) */
    uint8_t kset[32]; /* MVE2, MVK1: the decoy keyset's key K_d(kid) (secret) */
    mv_fhir_profiles *prof;
    decoy_vocab voc; /* the frozen v1 vocabulary (decoy_vocab.h) */
    mv_buf doc, tmp, z, skel;
    char date[11], dt[21];
    unsigned narr_variant; /* which text stream the narrative (the envelope's knob) uses */
    text_stream ts[TEXT_STREAMS];
    unsigned ts_next; /* the slot a new stream takes (round robin) */
    /* Marking (tpl_make): knob_text writes KNOB_MARK instead of the text of stream mark_e (of
     * every stream when mark_e is MARK_ANY) and notes the call. */
    int marking, marks, mark_samples;
    uint64_t mark_e, mark_e_seen;
    unsigned mark_v;
    size_t mark_n;
    knob_tpl btpl; /* the content block being sized (make_block) */
    knob_tpl etpl; /* the envelope's skeleton being sized (FHIR) */
} gen;

#define KNOB_MARK "QXKNOBMARKQX"
#define MARK_ANY UINT64_MAX

/* t (seconds since the epoch, UTC) as a FHIR date and dateTime. */
void decoy_fmt_time(uint64_t t, char date[11], char dt[21]);
/* A random-looking UUID (version 4 layout) drawn from d. */
void decoy_uuid(drbg *d, char out[37]);
/* The knob text stream (e, v, samples) drawn to at least n characters, in *out (owned by g). */
mv_err decoy_text_stream_get(gen *g, uint64_t e, unsigned v, int samples, size_t n, const mv_buf **out)
    __attribute__((warn_unused_result));
/* Appends a narrative (FHIR text.div) of n knob characters from text stream variant v. */
mv_err decoy_narrative(gen *g, size_t n, unsigned v, mv_buf *b) __attribute__((warn_unused_result));
/* Appends one resource of type t (entry e) with a knob of `knob` characters in a content
 * field and an envelope knob of narr characters (decoy_content.c explains minimal and
 * lean). */
mv_err decoy_resource(gen *g, int t, uint64_t e, size_t knob, unsigned v, size_t narr, int minimal, int lean,
                      mv_buf *b) __attribute__((warn_unused_result));

#endif
