/* decoy_content.c - what a decoy record says: invented or public vocabularies (drugs, vital
 * signs, conditions, panels, names, words) and the FHIR resources built from them, each with
 * a knob (free text of any length) the size search in decoy_gen.c turns until the record has
 * the real one's size. Every choice comes from the record's deterministic stream. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_json.h"
#include "decoy_gen.h"

/* The vocabularies (g->voc) are the frozen v1 tables of data/decoy-v1/ (decoy_vocab.h): invented
 * or public code systems, nothing here is patient data. */

void decoy_fmt_time(uint64_t t, char date[11], char dt[21])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        memset(&tm, 0, sizeof tm);
    unsigned y = (unsigned)(tm.tm_year + 1900) % 10000u, mo = (unsigned)(tm.tm_mon + 1) % 13u,
             da = (unsigned)tm.tm_mday % 32u, h = (unsigned)tm.tm_hour % 24u, mi = (unsigned)tm.tm_min % 60u,
             se = (unsigned)tm.tm_sec % 61u;
    snprintf(date, 11, "%04u-%02u-%02u", y, mo, da);
    snprintf(dt, 21, "%04u-%02u-%02uT%02u:%02u:%02uZ", y, mo, da, h, mi, se);
}

void decoy_uuid(drbg *d, char out[37])
{
    uint8_t b[16];
    static const char hex[] = "0123456789abcdef";
    drbg_bytes(d, b, 16);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    for (int i = 0, o = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[36] = 0;
}

/* Writes v in decimal (as "%ld") to p (room for 21 characters); returns the length. */
static size_t put_long(char *p, long v)
{
    char r[24];
    size_t n = 0, o = 0;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    do {
        r[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        p[o++] = '-';
    while (n)
        p[o++] = r[--n];
    return o;
}

/* The stream (e, v, samples) drawn to at least n characters. */
mv_err decoy_text_stream_get(gen *g, uint64_t e, unsigned v, int samples, size_t n, const mv_buf **out)
{
    text_stream *t = NULL;
    mv_err rc = MV_OK;
    for (unsigned i = 0; i < TEXT_STREAMS && !t; i++)
        if (g->ts[i].used && g->ts[i].e == e && g->ts[i].v == v && g->ts[i].samples == samples)
            t = &g->ts[i];
    if (!t) {
        t = &g->ts[g->ts_next++ % TEXT_STREAMS];
        t->used = 1;
        t->e = e;
        t->v = v;
        t->samples = samples;
        t->level = 0;
        drbg_init(&t->d, g->k, DOM_TEXT, e * 16 + v);
        mv_buf_reset(&t->text);
    }
    while (t->text.len < n && rc == MV_OK) {
        char w[24];
        size_t wl = 0;
        if (t->text.len)
            w[wl++] = ' ';
        if (samples) {
            t->level += (long)below(&t->d, 41) - 20 - t->level / 8; /* a mean-reverting walk, like a lead's trace */
            wl += put_long(w + wl, t->level);
        } else {
            const char *word = g->voc.words.w[skewed(&t->d, (uint32_t)g->voc.words.n)];
            size_t l = strlen(word);
            memcpy(w + wl, word, l); /* the longest word is 9 characters */
            wl += l;
        }
        rc = mv_buf_append(&t->text, w, wl);
    }
    *out = &t->text;
    return rc;
}

/* Appends n characters of the knob text (stream v of entry e): words, or ECG samples.
 * Text of n characters is a prefix of text of n + 1 (the first n characters of one endless
 * stream of words separated by spaces), so sizes grow smoothly with n. */
static mv_err knob_text(gen *g, uint64_t e, unsigned v, int samples, size_t n, mv_buf *out)
{
    const mv_buf *t = NULL;
    if (g->marking && (g->mark_e == MARK_ANY || g->mark_e == e)) {
        g->marks++;
        g->mark_e_seen = e;
        g->mark_v = v;
        g->mark_samples = samples;
        g->mark_n = n;
        return mv_buf_puts(out, KNOB_MARK);
    }
    mv_err rc = decoy_text_stream_get(g, e, v, samples, n, &t);
    return rc == MV_OK ? mv_buf_append(out, t->ptr, n) : rc;
}

mv_err decoy_narrative(gen *g, size_t n, unsigned v, mv_buf *b)
{
    mv_err rc = mv_buf_puts(b, ",\"text\":{\"status\":\"generated\",\"div\":\"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">");
    if (rc == MV_OK)
        rc = knob_text(g, 0xffff, v, 0, n, b);
    return rc == MV_OK ? mv_buf_puts(b, "</div>\"}") : rc;
}

static const drug *pick_drug(const decoy_vocab *voc, drbg *d, const char *dept)
{
    const drug *drugs = voc->drugs;
    size_t n = voc->n_drugs, in_dept = 0, idx[32];
    for (size_t i = 0; i < n && in_dept < 32; i++)
        if (drugs[i].dept[0] && strcmp(drugs[i].dept, dept) == 0)
            idx[in_dept++] = i;
    if (in_dept && below(d, 10) < 7)
        return &drugs[idx[skewed(d, (uint32_t)in_dept)]];
    return &drugs[skewed(d, (uint32_t)n)];
}

/* Appends the envelope knob of the lean tiers (lean >= 2): n characters of free text in an
 * envelope member of type t (nothing when n is 0; a Patient keeps its narrative). */
static mv_err lean_knob(gen *g, int t, size_t n, mv_buf *b)
{
    static const char *const open_[] = {",\"note\":[{\"text\":\"", ",\"note\":[{\"text\":\"",
                                        ",\"note\":[{\"text\":\"", ",\"conclusion\":\"",
                                        ",\"note\":[{\"text\":\"", ",\"reasonCode\":[{\"text\":\""};
    static const char *const close_[] = {"\"}]", "\"}]", "\"}]", "\"", "\"}]", "\"}]"};
    if (n == 0 || t < T_MEDREQ || t > T_ENCOUNTER)
        return MV_OK;
    mv_err rc = mv_buf_puts(b, open_[t]);
    if (rc == MV_OK)
        rc = knob_text(g, 0xffff, g->narr_variant, 0, n, b);
    return rc == MV_OK ? mv_buf_puts(b, close_[t]) : rc;
}

/* Appends one resource of type t (entry e) with a knob of `knob` characters in a content
 * field and an envelope knob of `narr` characters (narr SIZE_MAX: none): the narrative, or
 * at lean >= 2 a note (lean_knob). minimal drops optional content members; lean (0..5) only
 * ever changes envelope members, so a resource's content blocks are the same at every level:
 *   0 full: uuid ids, meta, display names, encounter and requester;
 *   1 lean: no meta, no encounter or requester;
 *   2 house style (as this system's client writes records): short id ("rx-4711"),
 *     "Patient/MRN-123456" without display, encounter "Encounter/<16 hex>", no meta, knob
 *     in a note; 3 the same without id; 4 subject and date only; 5 bare: resourceType and
 *     status (plus what the content block holds). */
mv_err decoy_resource(gen *g, int t, uint64_t e, size_t knob, unsigned v, size_t narr, int minimal, int lean,
                      mv_buf *b)
{
    drbg d;
    char id[37], pat[37], enc[37], prac[37];
    mv_err rc;
    drbg_init(&d, g->k, DOM_CHOICE, e);
    decoy_uuid(&d, id);
    decoy_uuid(&d, pat);
    decoy_uuid(&d, enc);
    decoy_uuid(&d, prac);
    int female = below(&d, 2) == 0;
    const decoy_words *ff = &g->voc.female_first, *mf = &g->voc.male_first, *fam = &g->voc.family;
    const char *first = female ? ff->w[skewed(&d, (uint32_t)ff->n)] : mf->w[skewed(&d, (uint32_t)mf->n)];
    const char *last = fam->w[skewed(&d, (uint32_t)fam->n)];
    const char *dfirst = below(&d, 2) ? ff->w[skewed(&d, (uint32_t)ff->n)] : mf->w[skewed(&d, (uint32_t)mf->n)];
    const char *dlast = fam->w[skewed(&d, (uint32_t)fam->n)];
    char when[11], whent[21];
    decoy_fmt_time(g->s->created - below(&d, 3 * 86400), when, whent);
    static const char *const types[] = {"MedicationRequest", "Observation", "Condition", "DiagnosticReport",
                                        "Observation", "Encounter", "Patient"};
    /* House-style identifiers come from their own stream, so the choices above stay put. */
    drbg hd;
    char mrn6[16], enc16[17];
    drbg_init(&hd, g->k, DOM_CHOICE, e | (uint64_t)1 << 40);
    snprintf(mrn6, sizeof mrn6, "MRN-%06u", (unsigned)below(&hd, 1000000));
    for (int i = 0; i < 16; i++)
        enc16[i] = "0123456789abcdef"[below(&hd, 16)];
    enc16[16] = 0;
    int house = lean >= 2, with_date = lean <= 3, with_subject = lean <= 3, with_enc = lean == 0 || lean == 2;
    const char *st = lean >= 5 ? "" : ",\"status\":";
    rc = mv_buf_printf(b, "{\"resourceType\":\"%s\"", types[t]);
    if (rc == MV_OK && lean < 2)
        rc = mv_buf_printf(b, ",\"id\":\"%s\"", id);
    /* House style: the knob is first a hex id of narr characters (<= 64, each adds one
     * byte), then a 32-character id and a note of the rest: no step wider than a byte. */
    size_t idlen = !house || narr == SIZE_MAX || t == T_PATIENT ? 0 : narr <= 64 ? narr : 32;
    if (rc == MV_OK && idlen) {
        drbg hx;
        drbg_init(&hx, g->k, DOM_TEXT, 0xfffd0 + g->narr_variant);
        rc = mv_buf_puts(b, ",\"id\":\"");
        for (size_t i = 0; rc == MV_OK && i < idlen; i++)
            rc = mv_buf_append(b, &"0123456789abcdef"[below(&hx, 16)], 1);
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "\"");
    }
    if (rc == MV_OK && !lean)
        rc = mv_buf_printf(b, ",\"meta\":{\"lastUpdated\":\"%s\"}", g->dt);
    if (rc == MV_OK && narr != SIZE_MAX && (!house || t == T_PATIENT))
        rc = decoy_narrative(g, narr, g->narr_variant, b);
    if (rc == MV_OK && narr != SIZE_MAX && narr > 64 && house)
        rc = lean_knob(g, t, narr - 53, b);
    if (rc != MV_OK)
        return rc;
    if (t != T_PATIENT && house && with_subject) {
        rc = mv_buf_printf(b, ",\"subject\":{\"reference\":\"Patient/%s\"}", mrn6);
        if (rc != MV_OK)
            return rc;
    } else if (t != T_PATIENT && !house) {
        rc = mv_buf_printf(b, ",\"%s\":{\"reference\":\"Patient/%s\",\"display\":\"%s %s\"}",
                           t == T_ENCOUNTER || t == T_CONDITION || t == T_MEDREQ || t == T_VITAL || t == T_REPORT ||
                                   t == T_ECG
                               ? "subject"
                               : "patient",
                           pat, first, last);
        if (rc != MV_OK)
            return rc;
    }
    switch (t) {
    case T_MEDREQ: {
        const drug *dr = pick_drug(&g->voc, &d, g->s->department);
        unsigned days = below(&d, 3) == 0 ? 90 : 30, refills = range_u(&d, 0, 5);
        double dose = dr->dose * (below(&d, 5) == 0 ? 2 : 1);
        if (minimal >= 2) /* as this system's client writes it: text only */
            rc = mv_buf_printf(b, "%s%s,\"intent\":\"order\",\"medicationCodeableConcept\":{\"text\":\"%s %g %s\"}", st,
                               *st ? "\"active\"" : "", dr->short_name, dose, dr->unit);
        else
            rc = mv_buf_printf(b, "%s%s,\"intent\":\"order\","
                                  "\"medicationCodeableConcept\":{\"coding\":[{\"system\":\"http://www.nlm.nih.gov/research/umls/rxnorm\","
                                  "\"code\":\"%s\",\"display\":\"%s\"}],\"text\":\"%s\"}",
                               st, *st ? "\"active\"" : "", dr->rxcui, dr->display, minimal ? dr->short_name : dr->display);
        if (rc == MV_OK && with_date)
            rc = mv_buf_printf(b, ",\"authoredOn\":\"%s\"", when);
        if (rc == MV_OK && !lean)
            rc = mv_buf_printf(b, ",\"encounter\":{\"reference\":\"Encounter/%s\"},\"requester\":{\"reference\":"
                                  "\"Practitioner/%s\",\"display\":\"Dr. %s %s\"}",
                               enc, prac, dfirst, dlast);
        else if (rc == MV_OK && with_enc)
            rc = mv_buf_printf(b, ",\"encounter\":{\"reference\":\"Encounter/%s\"}", enc16);
        if (rc == MV_OK)
            rc = mv_buf_puts(b, minimal >= 2 ? ",\"dosageInstruction\":[{\"text\":\"" : ",\"dosageInstruction\":[{\"patientInstruction\":\"");
        if (rc == MV_OK)
            rc = knob_text(g, e, v, 0, knob, b);
        if (rc == MV_OK && !minimal)
            rc = mv_buf_printf(b, "\",\"sequence\":1,\"text\":\"%g %s %s %u times daily\",\"timing\":{\"repeat\":"
                                  "{\"frequency\":%u,\"period\":1,\"periodUnit\":\"d\"}},\"route\":{\"coding\":[{\"system\":"
                                  "\"http://snomed.info/sct\",\"code\":\"%s\",\"display\":\"%s\"}]},\"doseAndRate\":[{"
                                  "\"doseQuantity\":{\"value\":%g,\"unit\":\"%s\",\"system\":\"http://unitsofmeasure.org\","
                                  "\"code\":\"%s\"}}]}],\"dispenseRequest\":{\"numberOfRepeatsAllowed\":%u,\"quantity\":"
                                  "{\"value\":%u,\"unit\":\"%s\"},\"expectedSupplyDuration\":{\"value\":%u,\"unit\":\"days\","
                                  "\"system\":\"http://unitsofmeasure.org\",\"code\":\"d\"}}",
                               dose, dr->unit, dr->route, dr->per_day, dr->per_day, dr->route_code, dr->route, dose,
                               dr->unit, dr->ucum, refills, dr->per_day * days, dr->form, days);
        else if (rc == MV_OK)
            rc = mv_buf_puts(b, "\"}]");
        break;
    }
    case T_VITAL: {
        const vital *vt = &g->voc.vitals[skewed(&d, (uint32_t)g->voc.n_vitals)];
        double x = vt->lo + (vt->hi - vt->lo) * (double)below(&d, 10001) / 10000.0;
        if (minimal >= 2) { /* text only, as this system's client writes it */
            rc = mv_buf_printf(b, "%s%s,\"code\":{\"text\":\"%s%s", st, *st ? "\"final\"" : "", vt->display,
                               knob ? ": " : "");
            if (rc == MV_OK)
                rc = knob_text(g, e, v, 0, knob, b);
            if (rc == MV_OK)
                rc = mv_buf_printf(b, "\"},\"valueQuantity\":{\"value\":%.*f,\"unit\":\"%s\"}", (int)vt->decimals, x,
                                   vt->ucum);
            if (rc == MV_OK && with_date)
                rc = mv_buf_printf(b, ",\"effectiveDateTime\":\"%s\"", whent);
            break;
        }
        rc = mv_buf_printf(b, "%s%s,\"category\":[{\"coding\":[{\"system\":"
                              "\"http://terminology.hl7.org/CodeSystem/observation-category\",\"code\":\"%s\"}]}],"
                              "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"%s\",\"display\":\"%s\"}],"
                              "\"text\":\"",
                           st, *st ? "\"final\"" : "", vt->cat, vt->loinc, vt->display);
        if (rc == MV_OK)
            rc = knob_text(g, e, v, 0, knob, b);
        if (rc == MV_OK)
            rc = mv_buf_printf(b, "\"},\"valueQuantity\":{\"value\":%.*f,\"unit\":\"%s\",\"system\":"
                                  "\"http://unitsofmeasure.org\",\"code\":\"%s\"}",
                               (int)vt->decimals, x, vt->unit, vt->ucum);
        if (rc == MV_OK && with_date)
            rc = mv_buf_printf(b, ",\"effectiveDateTime\":\"%s\"", whent);
        break;
    }
    case T_CONDITION: {
        const condition *c = &g->voc.conditions[skewed(&d, (uint32_t)g->voc.n_conditions)];
        if (!house)
            rc = mv_buf_puts(b, ",\"clinicalStatus\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
                                "condition-clinical\",\"code\":\"active\"}]}");
        if (rc == MV_OK && with_date)
            rc = mv_buf_printf(b, ",\"recordedDate\":\"%s\"", when);
        if (rc == MV_OK && minimal >= 2) { /* a short label only, as this system's client writes it */
            const decoy_words *labels = &g->voc.labels;
            rc = mv_buf_printf(b, ",\"code\":{\"text\":\"%s%s",
                               labels->w[(size_t)(c - g->voc.conditions + v) % labels->n], knob ? " " : "");
            if (rc == MV_OK && knob)
                rc = knob_text(g, e, v, 0, knob - 1, b);
            if (rc == MV_OK)
                rc = mv_buf_puts(b, "\"}");
            break;
        }
        if (rc == MV_OK)
            rc = mv_buf_printf(b, ",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"%s\","
                                  "\"display\":\"%s\"}",
                               c->snomed, c->display);
        if (rc == MV_OK && !minimal)
            rc = mv_buf_printf(b, ",{\"system\":\"http://hl7.org/fhir/sid/icd-10-cm\",\"code\":\"%s\"}", c->icd10);
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "],\"text\":\"");
        if (rc == MV_OK)
            rc = knob_text(g, e, v, 0, knob, b);
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "\"}");
        if (rc == MV_OK && !minimal)
            rc = mv_buf_puts(b, ",\"category\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
                                "condition-category\",\"code\":\"problem-list-item\"}]}]");
        break;
    }
    case T_REPORT: {
        const panel *p = &g->voc.panels[skewed(&d, (uint32_t)g->voc.n_panels)];
        if (with_date)
            rc = mv_buf_printf(b, ",\"effectiveDateTime\":\"%s\"", whent);
        if (rc == MV_OK && !house)
            rc = mv_buf_printf(b, ",\"issued\":\"%s\"", g->dt);
        if (rc == MV_OK)
            rc = mv_buf_printf(b, "%s%s,\"code\":{\"coding\":"
                                  "[{\"system\":\"http://loinc.org\",\"code\":\"%s\",\"display\":\"%s\"}],\"text\":\"",
                               st, *st ? "\"final\"" : "", p->loinc, p->display);
        if (rc == MV_OK)
            rc = knob_text(g, e, v, 0, knob, b);
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "\"}");
        if (rc == MV_OK && !minimal)
            rc = mv_buf_puts(b, ",\"category\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
                                "v2-0074\",\"code\":\"LAB\"}]}]");
        break;
    }
    case T_ECG:
        if (with_date)
            rc = mv_buf_printf(b, ",\"effectiveDateTime\":\"%s\"", whent);
        if (rc == MV_OK)
            rc = mv_buf_printf(b, "%s%s,\"code\":{\"coding\":[{\"system\":"
                              "\"http://loinc.org\",\"code\":\"11524-6\",\"display\":\"EKG study\"}]},"
                              "\"valueSampledData\":{\"origin\":{\"value\":0,\"unit\":\"mV\",\"system\":"
                              "\"http://unitsofmeasure.org\",\"code\":\"mV\"},\"period\":%u,\"factor\":0.005,"
                              "\"dimensions\":1,\"data\":\"",
                               st, *st ? "\"final\"" : "", 2 + below(&d, 3) * 2);
        if (rc == MV_OK)
            rc = knob_text(g, e, v, 1, knob, b);
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "\"}");
        break;
    case T_ENCOUNTER: {
        const char *cls = below(&d, 4) ? "AMB" : "IMP";
        if (house) { /* everything is envelope: keep what the level allows */
            rc = mv_buf_printf(b, ",\"status\":\"finished\",\"class\":{\"code\":\"%s\"}", cls);
            if (rc == MV_OK && with_date)
                rc = mv_buf_printf(b, ",\"period\":{\"start\":\"%s\"}", whent);
            if (rc == MV_OK && with_enc)
                rc = mv_buf_printf(b, ",\"participant\":[{\"individual\":{\"reference\":\"Practitioner/%s\"}}]", enc16);
            break;
        }
        rc = mv_buf_printf(b, ",\"status\":\"finished\",\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/"
                              "v3-ActCode\",\"code\":\"%s\"},\"period\":{\"start\":\"%s\",\"end\":\"%s\"},"
                              "\"participant\":[{\"individual\":{\"reference\":\"Practitioner/%s\",\"display\":\"Dr. %s %s\"}}]",
                           cls, whent, g->dt, prac, dfirst, dlast);
        break;
    }
    case T_PATIENT: {
        char mrn[16];
        snprintf(mrn, sizeof mrn, "MRN%08u", (unsigned)below(&d, 100000000));
        unsigned age = range_u(&d, 18, 92);
        char born[11], bornt[21];
        decoy_fmt_time(g->s->created - (uint64_t)age * 31556952u - below(&d, 31556952u), born, bornt);
        if (house) {
            rc = mv_buf_printf(b, ",\"identifier\":[{\"value\":\"%s\"}],\"gender\":\"%s\"", mrn6,
                               female ? "female" : "male");
            if (rc == MV_OK && with_date)
                rc = mv_buf_printf(b, ",\"birthDate\":\"%s\"", born);
            if (rc == MV_OK && lean <= 3)
                rc = mv_buf_printf(b, ",\"name\":[{\"family\":\"%s\",\"given\":[\"%s\"]}]", last, first);
            break;
        }
        rc = mv_buf_printf(b, ",\"identifier\":[{\"system\":\"urn:oid:2.16.840.1.113883.19.5\",\"value\":\"%s\"}],"
                              "\"name\":[{\"family\":\"%s\",\"given\":[\"%s\"]}],\"gender\":\"%s\",\"birthDate\":\"%s\"",
                           mrn, last, first, female ? "female" : "male", born);
        break;
    }
    default:
        rc = MV_ERR_INVAL;
    }
    return rc == MV_OK ? mv_buf_puts(b, "}") : rc;
}
