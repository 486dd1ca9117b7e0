/* fhir_facts.c - what a FHIR resource says about itself (type, id, version, patient, date,
 * code, status, a human summary), for the user's local index; and a resource restamped with
 * a new meta.versionId / meta.lastUpdated (docs/fhir.md). Pure functions on a parsed tree. */
#include <string.h>

#include "medvault/mv_canon.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_mem.h"
#include "record/canon_ex.h"
#include "record/stamp.h"

int mv_fhir_id_ok(const char *s, size_t len)
{
    if (!s || len == 0 || len > MV_FHIR_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '.'))
            return 0;
    }
    return 1;
}

/* Copies s[0..len) into dst[cap] if it fits with its NUL; leaves dst empty otherwise (a
 * search value that does not fit is not searchable rather than cut). 1 if copied. */
static int put_exact(char *dst, size_t cap, const char *s, size_t len)
{
    if (!s || len >= cap || memchr(s, 0, len))
        return 0;
    memcpy(dst, s, len);
    dst[len] = 0;
    return 1;
}

/* Copies s[0..len) into dst[cap], cut at a UTF-8 character boundary if it does not fit. */
static void put_cut(char *dst, size_t cap, const char *s, size_t len)
{
    const char *nul = memchr(s, 0, len);
    if (nul)
        len = (size_t)(nul - s);
    if (len >= cap) {
        len = cap - 1;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--; /* s[len] would be a continuation byte: the character starts earlier */
    }
    memcpy(dst, s, len);
    dst[len] = 0;
}

static const mv_json *first_of(const mv_json *v)
{
    return mv_json_type_of(v) == MV_JSON_ARRAY ? mv_json_at(v, 0) : v;
}

/* The first date the resource carries, in the order clinical resources put their main one. */
static void find_date(const mv_json *doc, mv_fhir_facts *f)
{
    static const char *const plain[] = {"effectiveDateTime", "effectiveInstant", "authoredOn", "occurrenceDateTime",
                                        "performedDateTime", "onsetDateTime", "recordedDate", "issued", "started",
                                        "whenHandedOver", "dateAsserted", "date", "created", "birthDate"};
    static const char *const periods[] = {"effectivePeriod", "performedPeriod", "period", "billablePeriod",
                                          "occurrencePeriod", "onsetPeriod"};
    size_t l = 0;
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
        const char *s = mv_json_get_str(doc, plain[i], &l);
        if (s && put_exact(f->date, sizeof f->date, s, l))
            return;
    }
    for (size_t i = 0; i < sizeof periods / sizeof *periods; i++) {
        const char *s = mv_json_get_str(mv_json_get(doc, periods[i]), "start", &l);
        if (s && put_exact(f->date, sizeof f->date, s, l))
            return;
    }
}

/* code = "system|code" and display of the first coding of the resource's main concept. */
static void find_code(const mv_json *doc, mv_fhir_facts *f)
{
    static const char *const keys[] = {"code", "medicationCodeableConcept", "vaccineCode", "type", "category"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const mv_json *cc = first_of(mv_json_get(doc, keys[i]));
        if (mv_json_type_of(cc) != MV_JSON_OBJECT)
            continue;
        const mv_json *coding = first_of(mv_json_get(cc, "coding"));
        size_t sl = 0, cl = 0, dl = 0;
        const char *sys = mv_json_get_str(coding, "system", &sl), *code = mv_json_get_str(coding, "code", &cl);
        const char *disp = mv_json_get_str(coding, "display", &dl);
        if (!disp)
            disp = mv_json_get_str(cc, "text", &dl);
        if (code && (sys ? sl : 0) + 1 + cl < sizeof f->code && !memchr(code, 0, cl) && (!sys || !memchr(sys, 0, sl))) {
            size_t at = 0;
            if (sys) {
                memcpy(f->code, sys, sl);
                at = sl;
            }
            f->code[at++] = '|';
            memcpy(f->code + at, code, cl);
            f->code[at + cl] = 0;
        }
        if (disp)
            put_cut(f->display, sizeof f->display, disp, dl);
        if (code || disp)
            return;
    }
}

/* A Patient's (or Practitioner's) first name as "given family", or its text. */
static void find_name(const mv_json *doc, mv_fhir_facts *f)
{
    const mv_json *n = first_of(mv_json_get(doc, "name"));
    size_t l = 0;
    const char *text = mv_json_get_str(n, "text", &l);
    if (text) {
        put_cut(f->display, sizeof f->display, text, l);
        return;
    }
    char buf[MV_FHIR_FACT_MAX * 2];
    size_t at = 0;
    const char *given = mv_json_str(first_of(mv_json_get(n, "given")), &l);
    if (given && l < sizeof buf / 2) {
        memcpy(buf, given, l);
        at = l;
    }
    const char *family = mv_json_get_str(n, "family", &l);
    if (family && l < sizeof buf / 2 - 1) {
        if (at)
            buf[at++] = ' ';
        memcpy(buf + at, family, l);
        at += l;
    }
    if (at)
        put_cut(f->display, sizeof f->display, buf, at);
}

mv_err mv_fhir_facts_of(const mv_json *doc, mv_fhir_facts *f)
{
    size_t l = 0;
    if (!doc || !f)
        return MV_ERR_INVAL;
    memset(f, 0, sizeof *f);
    const char *type = mv_json_get_str(doc, "resourceType", &l);
    if (mv_json_type_of(doc) != MV_JSON_OBJECT || !type || !put_exact(f->type, sizeof f->type, type, l) || !l)
        return MV_ERR_PARSE;
    const mv_json *idv = mv_json_get(doc, "id");
    if (idv) {
        const char *id = mv_json_str(idv, &l);
        if (id && mv_fhir_id_ok(id, l))
            put_exact(f->id, sizeof f->id, id, l);
        else
            f->id_invalid = 1;
    }
    const mv_json *meta = mv_json_get(doc, "meta");
    const char *s = mv_json_get_str(meta, "versionId", &l);
    if (s)
        put_exact(f->version_id, sizeof f->version_id, s, l);
    if ((s = mv_json_get_str(meta, "lastUpdated", &l)))
        put_exact(f->last_updated, sizeof f->last_updated, s, l);
    if (!strcmp(f->type, "Patient")) {
        if (f->id[0]) {
            memcpy(f->patient, "Patient/", 8);
            memcpy(f->patient + 8, f->id, strlen(f->id) + 1);
        }
        const mv_json *ids = mv_json_get(doc, "identifier");
        for (size_t i = 0; i < mv_json_len(ids) && f->n_identifiers < MV_FHIR_IDENTIFIERS_MAX; i++) {
            const mv_json *e = mv_json_at(ids, i);
            size_t sl = 0, vl = 0;
            const char *sys = mv_json_get_str(e, "system", &sl), *val = mv_json_get_str(e, "value", &vl);
            mv_fhir_identifier *d = &f->identifiers[f->n_identifiers];
            if (sys && val && put_exact(d->system, sizeof d->system, sys, sl) &&
                put_exact(d->value, sizeof d->value, val, vl))
                f->n_identifiers++;
        }
        find_name(doc, f);
    } else {
        static const char *const refs[] = {"subject", "patient", "beneficiary"};
        for (size_t i = 0; i < sizeof refs / sizeof *refs && !f->patient[0]; i++)
            if ((s = mv_json_get_str(mv_json_get(doc, refs[i]), "reference", &l)))
                put_exact(f->patient, sizeof f->patient, s, l);
        find_code(doc, f);
        if (!f->display[0] && (!strcmp(f->type, "Practitioner") || !strcmp(f->type, "RelatedPerson")))
            find_name(doc, f);
    }
    find_date(doc, f);
    if ((s = mv_json_get_str(doc, "status", &l)))
        put_exact(f->status, sizeof f->status, s, l);
    else if ((s = mv_json_get_str(first_of(mv_json_get(mv_json_get(doc, "clinicalStatus"), "coding")), "code", &l)))
        put_exact(f->status, sizeof f->status, s, l);
    return MV_OK;
}

mv_err fhir_stamp_plan(const mv_json *doc, const char *vid, const char *lu, fhir_stamp *st)
{
    memset(st, 0, sizeof *st);
    mv_buf_init(&st->ov_text, 4096);
    const mv_json *meta = mv_json_get(doc, "meta");
    if (meta && mv_json_type_of(meta) != MV_JSON_OBJECT)
        return MV_ERR_PARSE;
    size_t kept = 0;
    for (size_t i = 0; i < mv_json_len(meta); i++) {
        size_t kl = 0;
        const char *k = mv_json_key_at(meta, i, &kl);
        if ((kl == 9 && !memcmp(k, "versionId", 9)) || (kl == 11 && !memcmp(k, "lastUpdated", 11)))
            st->ex[st->n_ex++] = mv_json_value_at(meta, i); /* a parsed object has each key once */
        else
            kept++;
    }
    if (!vid && !lu) {
        if (meta && !kept) {
            st->n_ex = 0;
            st->ex[st->n_ex++] = meta; /* nothing would be left in it: meta goes */
        }
        return MV_OK;
    }
    /* The new members merged in as an overlay: on meta, or a whole meta on the root. */
    mv_jw w;
    mv_jw_init(&w, &st->ov_text);
    mv_jw_obj(&w);
    if (!meta) {
        mv_jw_key(&w, "meta");
        mv_jw_obj(&w);
    }
    if (vid)
        mv_jw_kstr(&w, "versionId", vid);
    if (lu)
        mv_jw_kstr(&w, "lastUpdated", lu);
    if (!meta)
        mv_jw_obj_end(&w);
    mv_jw_obj_end(&w);
    mv_err rc = mv_jw_finish(&w);
    if (rc == MV_OK)
        rc = mv_json_parse((const char *)st->ov_text.ptr, st->ov_text.len, NULL, &st->ov_doc, NULL);
    if (rc == MV_OK) {
        st->ov.target = meta ? meta : doc;
        st->ov.obj = st->ov_doc;
    }
    return rc;
}

void fhir_stamp_free(fhir_stamp *st)
{
    mv_json_free(st->ov_doc);
    mv_buf_clear(&st->ov_text);
    st->ov_doc = NULL;
}

mv_err mv_fhir_restamp(const mv_json *doc, const char *vid, const char *lu, mv_buf *out)
{
    fhir_stamp st;
    if (!doc || !out)
        return MV_ERR_INVAL;
    if (mv_json_type_of(doc) != MV_JSON_OBJECT)
        return MV_ERR_PARSE;
    mv_err rc = fhir_stamp_plan(doc, vid, lu, &st);
    if (rc == MV_OK) {
        mv_canon_nodes_sort(st.ex, st.n_ex);
        rc = mv_canon_write_ex(out, doc, st.ov.obj ? &st.ov : NULL, st.ov.obj ? 1 : 0, st.ex, st.n_ex);
    }
    fhir_stamp_free(&st);
    return rc;
}
