/* fhir_facts.c - what a FHIR resource says about itself (type, id, version, patient, date,
 * code, status, a human summary), for the user's local index; and a resource restamped with
 * a new meta.versionId / meta.lastUpdated (docs/fhir.md). Pure functions on a parsed tree. */
#include <string.h>

#include "medvault/mv_canon.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_mem.h"

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

static mv_err put_member(mv_buf *b, int *first, const char *key, size_t kl, const mv_json *v)
{
    mv_err rc = mv_buf_puts(b, *first ? "" : ",");
    *first = 0;
    if (rc == MV_OK)
        rc = mv_json_write_str(b, key, kl);
    if (rc == MV_OK)
        rc = mv_buf_puts(b, ":");
    if (rc == MV_OK)
        rc = mv_json_write(b, v);
    return rc;
}

static mv_err put_str_member(mv_buf *b, int *first, const char *key, const char *val)
{
    mv_err rc = mv_buf_puts(b, *first ? "" : ",");
    *first = 0;
    if (rc == MV_OK)
        rc = mv_json_write_str(b, key, strlen(key));
    if (rc == MV_OK)
        rc = mv_buf_puts(b, ":");
    if (rc == MV_OK)
        rc = mv_json_write_str(b, val, strlen(val));
    return rc;
}

/* Writes meta without versionId/lastUpdated, plus the given ones; nothing at all when the
 * result would be empty. */
static mv_err write_meta(mv_buf *b, int *first, const mv_json *meta, const char *vid, const char *lu)
{
    size_t keep = 0, kl = 0;
    for (size_t i = 0; i < mv_json_len(meta); i++) {
        const char *k = mv_json_key_at(meta, i, &kl);
        if (!(kl == 9 && !memcmp(k, "versionId", 9)) && !(kl == 11 && !memcmp(k, "lastUpdated", 11)))
            keep++;
    }
    if (!keep && !vid && !lu)
        return MV_OK;
    mv_err rc = mv_buf_puts(b, *first ? "\"meta\":{" : ",\"meta\":{");
    *first = 0;
    int mf = 1;
    for (size_t i = 0; rc == MV_OK && i < mv_json_len(meta); i++) {
        const char *k = mv_json_key_at(meta, i, &kl);
        if ((kl == 9 && !memcmp(k, "versionId", 9)) || (kl == 11 && !memcmp(k, "lastUpdated", 11)))
            continue;
        rc = put_member(b, &mf, k, kl, mv_json_value_at(meta, i));
    }
    if (rc == MV_OK && vid)
        rc = put_str_member(b, &mf, "versionId", vid);
    if (rc == MV_OK && lu)
        rc = put_str_member(b, &mf, "lastUpdated", lu);
    if (rc == MV_OK)
        rc = mv_buf_puts(b, "}");
    return rc;
}

mv_err mv_fhir_restamp(const mv_json *doc, const char *vid, const char *lu, mv_buf *out)
{
    if (!doc || !out)
        return MV_ERR_INVAL;
    if (mv_json_type_of(doc) != MV_JSON_OBJECT)
        return MV_ERR_PARSE;
    const mv_json *meta = mv_json_get(doc, "meta");
    if (meta && mv_json_type_of(meta) != MV_JSON_OBJECT)
        return MV_ERR_PARSE;
    /* The text is written with members in the input's order, then canonicalised (which
     * sorts them): simpler than building a tree, and the parse is linear. */
    mv_buf text;
    mv_buf_init(&text, MV_FHIR_MAX_BYTES);
    int first = 1, wrote_meta = 0;
    mv_err rc = mv_buf_puts(&text, "{");
    for (size_t i = 0; rc == MV_OK && i < mv_json_len(doc); i++) {
        size_t kl = 0;
        const char *k = mv_json_key_at(doc, i, &kl);
        if (kl == 4 && !memcmp(k, "meta", 4)) {
            rc = write_meta(&text, &first, meta, vid, lu);
            wrote_meta = 1;
        } else {
            rc = put_member(&text, &first, k, kl, mv_json_value_at(doc, i));
        }
    }
    if (rc == MV_OK && !wrote_meta)
        rc = write_meta(&text, &first, NULL, vid, lu);
    if (rc == MV_OK)
        rc = mv_buf_puts(&text, "}");
    if (rc == MV_OK) {
        mv_json_limits lim = {MV_FHIR_MAX_BYTES, 0, 0};
        rc = mv_canon((const char *)text.ptr, text.len, &lim, out, NULL);
    }
    mv_buf_clear(&text);
    return rc;
}
