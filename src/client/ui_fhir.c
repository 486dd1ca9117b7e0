/* ui_fhir.c - a FHIR R4 resource as a person reads it: a table of its main fields per common
 * resource type (a generic key/value table for any other), each FHIR datatype written as
 * text (a CodeableConcept as its text or display, a Quantity as "value unit", a Reference as
 * its display, ...). The values are plain text, HTML-escaped by the page writer like every
 * other value on a page. */
#include "ui_internal.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_fhirstore.h"
#include "medvault/mv_mem.h"

/* Bytes of one field's text: a longer value is cut (the raw JSON under the table has it all). */
#define VALUE_MAX 2048
/* Nesting of a value written generically ("key: value, ..."); deeper parts show as "...". */
#define DEPTH_MAX 4

struct val {
    char s[VALUE_MAX];
    size_t n;
    int full;
    mv_client *c; /* for the names of referenced Patients (the local index); may be NULL */
};

/* Appends s[0..len), cut at a UTF-8 boundary when the value is full. */
static void v_addn(struct val *v, const char *s, size_t len)
{
    static const char more[] = "\xe2\x80\xa6"; /* U+2026 */
    size_t room = sizeof v->s - 1 - v->n;
    if (v->full)
        return;
    if (len > room) {
        len = room >= sizeof more - 1 ? room - (sizeof more - 1) : 0;
        while (len && ((unsigned char)s[len] & 0xc0) == 0x80)
            len--;
        v->full = 1;
    }
    memcpy(v->s + v->n, s, len);
    v->n += len;
    if (v->full && v->n + sizeof more - 1 < sizeof v->s) {
        memcpy(v->s + v->n, more, sizeof more - 1);
        v->n += sizeof more - 1;
    }
    v->s[v->n] = 0;
}

static void v_add(struct val *v, const char *s)
{
    v_addn(v, s, strlen(s));
}

/* Takes back what was appended since v->n was at (a separator that nothing followed). */
static void v_cut(struct val *v, size_t at)
{
    if (at < v->n && !v->full) {
        v->n = at;
        v->s[at] = 0;
    }
}

static void v_reset(struct val *v)
{
    v->n = 0;
    v->full = 0;
    v->s[0] = 0;
}

/* The string member key of o (a number as written), or NULL. */
static const char *mstr(const mv_json *o, const char *key, size_t *len)
{
    const mv_json *m = mv_json_get(o, key);
    const char *s = mv_json_str(m, len);
    return s ? s : mv_json_num(m, len);
}

static int has(const mv_json *o, const char *key)
{
    return mv_json_get(o, key) != NULL;
}

/* Appends the string member key of o if it is there; returns 1 if it was. */
static int v_member(struct val *v, const mv_json *o, const char *key)
{
    size_t l = 0;
    const char *s = mstr(o, key, &l);
    if (!s || !l)
        return 0;
    v_addn(v, s, l);
    return 1;
}

static void v_any(struct val *v, const mv_json *j, unsigned depth);

/* A name written "camelCase" as "Camel case". */
static void v_label(struct val *v, const char *k, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char ch = k[i];
        if (i == 0 && ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        else if (i > 0 && ch >= 'A' && ch <= 'Z') {
            v_add(v, " ");
            ch = (char)(ch - 'A' + 'a');
        }
        v_addn(v, &ch, 1);
    }
}

/* The member of o named prefix + an upper-case letter (FHIR's choice types, "value[x]"). */
static const mv_json *choice(const mv_json *o, const char *prefix, const char **suffix)
{
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < mv_json_len(o) && mv_json_type_of(o) == MV_JSON_OBJECT; i++) {
        size_t kl = 0;
        const char *k = mv_json_key_at(o, i, &kl);
        if (k && kl > pl && !memcmp(k, prefix, pl) && k[pl] >= 'A' && k[pl] <= 'Z') {
            if (suffix)
                *suffix = k + pl;
            return mv_json_value_at(o, i);
        }
    }
    return NULL;
}

/* A Patient reference as the Patient's name when the local index knows it. */
static int v_patient_name(struct val *v, const char *ref)
{
    mv_fhir_entry e;
    const char *id = !strncmp(ref, "Patient/", 8) ? ref + 8 : !strncmp(ref, "urn:uuid:", 9) ? ref + 9 : NULL;
    if (!v->c || !id || !id[0] || mv_client_fhir_lookup(v->c, "Patient", id, 0, &e) != MV_OK || !e.display[0])
        return 0;
    v_add(v, e.display);
    return 1;
}

static void v_quantity(struct val *v, const mv_json *o)
{
    v_member(v, o, "comparator");
    v_member(v, o, "value");
    size_t at = v->n;
    v_add(v, " ");
    if (!v_member(v, o, "unit") && !v_member(v, o, "code")) {
        v_cut(v, at); /* no unit: no trailing space */
    }
}

/* The string members parts[] of o (each a string or an array of strings), in that order,
 * sep between them: a HumanName's or an Address's parts. */
static void v_parts(struct val *v, const mv_json *o, const char *const *parts, const char *sep)
{
    int any = 0;
    for (; *parts; parts++) {
        const mv_json *p = mv_json_get(o, *parts);
        int arr = mv_json_type_of(p) == MV_JSON_ARRAY;
        for (size_t k = 0, n = arr ? mv_json_len(p) : 1; k < n; k++) {
            size_t l = 0;
            const char *s = mv_json_str(arr ? mv_json_at(p, k) : p, &l);
            if (s && l) {
                v_add(v, any++ ? sep : "");
                v_addn(v, s, l);
            }
        }
    }
}

/* Writes an object by its shape: the FHIR datatypes people read, then generic key: value. */
static void v_object(struct val *v, const mv_json *o, unsigned depth)
{
    size_t l = 0;
    const char *suffix = NULL;
    const mv_json *x;
    if (has(o, "coding") || (has(o, "text") && mv_json_len(o) == 1)) { /* CodeableConcept */
        if (!v_member(v, o, "text")) {
            const mv_json *c = mv_json_at(mv_json_get(o, "coding"), 0);
            if (!v_member(v, c, "display"))
                v_member(v, c, "code");
        }
    } else if (mv_json_type_of(mv_json_get(o, "code")) == MV_JSON_OBJECT && (x = choice(o, "value", &suffix))) {
        /* An Observation's component: "code: value". */
        v_any(v, mv_json_get(o, "code"), depth + 1);
        v_add(v, ": ");
        v_any(v, x, depth + 1);
    } else if (mv_json_type_of(mv_json_get(o, "value")) == MV_JSON_NUMBER) { /* Quantity (Age, Duration, ...) */
        v_quantity(v, o);
    } else if (has(o, "family") || has(o, "given")) { /* HumanName */
        static const char *const parts[] = {"prefix", "given", "family", "suffix", NULL};
        if (!v_member(v, o, "text"))
            v_parts(v, o, parts, " ");
    } else if (has(o, "start") || has(o, "end")) { /* Period */
        if (!v_member(v, o, "start"))
            v_add(v, "?");
        v_add(v, " \xe2\x80\x93 "); /* en dash */
        if (!v_member(v, o, "end"))
            v_add(v, "ongoing");
    } else if (has(o, "low") || has(o, "high")) { /* Range */
        v_any(v, mv_json_get(o, "low"), depth + 1);
        v_add(v, " \xe2\x80\x93 ");
        v_any(v, mv_json_get(o, "high"), depth + 1);
    } else if (has(o, "numerator")) { /* Ratio */
        v_any(v, mv_json_get(o, "numerator"), depth + 1);
        v_add(v, " / ");
        v_any(v, mv_json_get(o, "denominator"), depth + 1);
    } else if (has(o, "reference") || (has(o, "display") && !has(o, "code"))) { /* Reference */
        const char *ref = mstr(o, "reference", &l);
        if (!v_member(v, o, "display") && !(ref && v_patient_name(v, ref)))
            v_member(v, o, "reference");
    } else if (has(o, "line") || has(o, "city")) { /* Address */
        static const char *const parts[] = {"line", "city", "district", "state", "postalCode", "country", NULL};
        v_parts(v, o, parts, ", ");
    } else if (mv_json_type_of(mv_json_get(o, "value")) == MV_JSON_STRING) { /* Identifier, ContactPoint */
        v_member(v, o, "value");
        size_t at = v->n;
        v_add(v, " (");
        size_t in = v->n;
        v_any(v, mv_json_get(o, "type"), depth + 1);
        if (v->n == in)
            v_member(v, o, "system");
        if (v->n == in) { /* nothing says what kind of identifier: no parentheses */
            v_cut(v, at);
        } else {
            v_add(v, ")");
        }
    } else if (has(o, "code") && (has(o, "system") || has(o, "display"))) { /* Coding */
        if (!v_member(v, o, "display"))
            v_member(v, o, "code");
    } else if (mv_json_type_of(mv_json_get(o, "text")) == MV_JSON_STRING) { /* Dosage, Annotation, ... */
        v_member(v, o, "text");
    } else if (depth >= DEPTH_MAX) {
        v_add(v, "\xe2\x80\xa6");
    } else { /* anything else: "key: value, ..." */
        int any = 0;
        for (size_t i = 0; i < mv_json_len(o); i++) {
            const char *k = mv_json_key_at(o, i, &l);
            if (!k || (l == 9 && !memcmp(k, "extension", 9)) || (l == 2 && !memcmp(k, "id", 2)) || k[0] == '_')
                continue;
            v_add(v, any++ ? ", " : "");
            v_label(v, k, l);
            v_add(v, ": ");
            v_any(v, mv_json_value_at(o, i), depth + 1);
        }
    }
}

static void v_any(struct val *v, const mv_json *j, unsigned depth)
{
    size_t l = 0;
    const char *s;
    /* The parser already caps nesting; this keeps the recursion's own bound in sight. */
    if (depth > 4 * DEPTH_MAX) {
        v_add(v, "\xe2\x80\xa6");
        return;
    }
    switch (mv_json_type_of(j)) {
    case MV_JSON_STRING:
        s = mv_json_str(j, &l);
        v_addn(v, s, l);
        break;
    case MV_JSON_NUMBER:
        s = mv_json_num(j, &l);
        v_addn(v, s, l);
        break;
    case MV_JSON_TRUE: v_add(v, "yes"); break;
    case MV_JSON_FALSE: v_add(v, "no"); break;
    case MV_JSON_NULL: break;
    case MV_JSON_ARRAY: {
        int any = 0;
        for (size_t i = 0; i < mv_json_len(j); i++) {
            size_t at = v->n;
            v_add(v, any ? "; " : "");
            size_t before = v->n;
            v_any(v, mv_json_at(j, i), depth + 1);
            if (v->n == before) /* an empty element: no separator either */
                v_cut(v, at);
            else
                any = 1;
        }
        break;
    }
    case MV_JSON_OBJECT: v_object(v, j, depth); break;
    }
}

/* One field of a type's summary: key is a member name, "name[x]" (a choice type) or
 * "a.b" (member b of object a). */
struct field {
    const char *label, *key;
};

struct type_view {
    const char *type;
    const struct field *fields;
};

/* Per type, the fields a reader looks for first, in that order (mostly the elements FHIR R4
 * marks as summary elements of each resource); a field absent from a resource has no row. */
static const struct field PATIENT[] = {
    {"Name", "name"}, {"Gender", "gender"}, {"Birth date", "birthDate"}, {"Identifiers", "identifier"},
    {"Deceased", "deceased[x]"}, {"Address", "address"}, {"Telecom", "telecom"},
    {"Marital status", "maritalStatus"}, {NULL, NULL},
};
static const struct field OBSERVATION[] = {
    {"Code", "code"}, {"Value", "value[x]"}, {"Components", "component"}, {"Effective", "effective[x]"},
    {"Status", "status"}, {"Interpretation", "interpretation"}, {"Reference range", "referenceRange"},
    {"Category", "category"}, {"Patient", "subject"}, {"Issued", "issued"}, {"Performer", "performer"},
    {"Note", "note"}, {NULL, NULL},
};
static const struct field MEDICATION_REQUEST[] = {
    {"Medication", "medication[x]"}, {"Dosage", "dosageInstruction"}, {"Quantity", "dispenseRequest.quantity"},
    {"Repeats allowed", "dispenseRequest.numberOfRepeatsAllowed"}, {"Authored on", "authoredOn"},
    {"Status", "status"}, {"Intent", "intent"}, {"Requester", "requester"}, {"Patient", "subject"},
    {"Reason", "reasonCode"}, {"Reason", "reasonReference"}, {"Note", "note"}, {NULL, NULL},
};
static const struct field CONDITION[] = {
    {"Code", "code"}, {"Clinical status", "clinicalStatus"}, {"Verification", "verificationStatus"},
    {"Onset", "onset[x]"}, {"Abatement", "abatement[x]"}, {"Recorded", "recordedDate"}, {"Severity", "severity"},
    {"Category", "category"}, {"Patient", "subject"}, {"Note", "note"}, {NULL, NULL},
};
static const struct field ENCOUNTER[] = {
    {"Type", "type"}, {"Class", "class"}, {"Period", "period"}, {"Status", "status"}, {"Reason", "reasonCode"},
    {"Patient", "subject"}, {"Service provider", "serviceProvider"}, {"Location", "location"}, {NULL, NULL},
};
static const struct field PROCEDURE[] = {
    {"Procedure", "code"}, {"Status", "status"}, {"Performed", "performed[x]"}, {"Reason", "reasonCode"},
    {"Reason", "reasonReference"}, {"Body site", "bodySite"}, {"Outcome", "outcome"}, {"Performer", "performer"},
    {"Location", "location"}, {"Patient", "subject"}, {"Note", "note"}, {NULL, NULL},
};
static const struct field IMMUNIZATION[] = {
    {"Vaccine", "vaccineCode"}, {"Status", "status"}, {"Date", "occurrence[x]"}, {"Dose", "doseQuantity"},
    {"Lot", "lotNumber"}, {"Site", "site"}, {"Route", "route"}, {"Primary source", "primarySource"},
    {"Location", "location"}, {"Patient", "patient"}, {"Note", "note"}, {NULL, NULL},
};
static const struct field ALLERGY[] = {
    {"Substance", "code"}, {"Clinical status", "clinicalStatus"}, {"Verification", "verificationStatus"},
    {"Type", "type"}, {"Category", "category"}, {"Criticality", "criticality"}, {"Reactions", "reaction"},
    {"Onset", "onset[x]"}, {"Recorded", "recordedDate"}, {"Patient", "patient"}, {"Note", "note"}, {NULL, NULL},
};
static const struct field DIAGNOSTIC_REPORT[] = {
    {"Report", "code"}, {"Status", "status"}, {"Effective", "effective[x]"}, {"Issued", "issued"},
    {"Category", "category"}, {"Results", "result"}, {"Conclusion", "conclusion"},
    {"Conclusion codes", "conclusionCode"}, {"Performer", "performer"}, {"Patient", "subject"}, {NULL, NULL},
};
static const struct field SERVICE_REQUEST[] = {
    {"Order", "code"}, {"Note", "note"}, {"Status", "status"}, {"Intent", "intent"}, {"Authored on", "authoredOn"},
    {"Requester", "requester"}, {"Patient", "subject"}, {NULL, NULL},
};

static const struct type_view VIEWS[] = {
    {"Patient", PATIENT}, {"Observation", OBSERVATION}, {"MedicationRequest", MEDICATION_REQUEST},
    {"Condition", CONDITION}, {"Encounter", ENCOUNTER}, {"Procedure", PROCEDURE}, {"Immunization", IMMUNIZATION},
    {"AllergyIntolerance", ALLERGY}, {"DiagnosticReport", DIAGNOSTIC_REPORT}, {"ServiceRequest", SERVICE_REQUEST},
};

/* Members the generic view leaves out: identity and machinery shown elsewhere or not for people. */
static int generic_skips(const char *k, size_t l)
{
    static const char *const skip[] = {"resourceType", "id",        "meta",      "text",
                                       "contained",    "extension", "modifierExtension", "implicitRules",
                                       "language"};
    if (!l || k[0] == '_')
        return 1;
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
        if (strlen(skip[i]) == l && !memcmp(skip[i], k, l))
            return 1;
    return 0;
}

/* The value a field's key names in doc, or NULL. */
static const mv_json *field_value(const mv_json *doc, const char *key)
{
    char part[64];
    const char *dot = strchr(key, '.'), *x = strstr(key, "[x]");
    if (dot) {
        snprintf(part, sizeof part, "%.*s", (int)(dot - key), key);
        return field_value(mv_json_get(doc, part), dot + 1);
    }
    if (x) {
        snprintf(part, sizeof part, "%.*s", (int)(x - key), key);
        return choice(doc, part, NULL);
    }
    return mv_json_get(doc, key);
}

static void row(struct req *q, const char *label, const struct val *v)
{
    if (v->n)
        P(q, "<tr><th>%s</th><td>%s</td></tr>\n", label, v->s);
}

void mvc_ui_fhir_summary(struct req *q, const mv_json *doc)
{
    const char *type = mvc_ui_js(doc, "resourceType");
    const struct field *fields = NULL;
    struct val *v = mv_calloc(2, sizeof *v), *label = v + 1;
    if (!v) {
        q->w.rc = MV_ERR_NOMEM;
        return;
    }
    v->c = q->u->client;
    for (size_t i = 0; i < sizeof VIEWS / sizeof *VIEWS && !fields; i++)
        if (!strcmp(VIEWS[i].type, type))
            fields = VIEWS[i].fields;
    P(q, "<table class=\"summary\" id=\"summary\">\n");
    if (fields) {
        for (const struct field *f = fields; f->label; f++) {
            v_reset(v);
            v_any(v, field_value(doc, f->key), 0);
            row(q, f->label, v);
        }
    } else {
        for (size_t i = 0; i < mv_json_len(doc); i++) {
            size_t l = 0;
            const char *k = mv_json_key_at(doc, i, &l);
            if (!k || generic_skips(k, l))
                continue;
            v_reset(label);
            v_label(label, k, l);
            v_reset(v);
            v_any(v, mv_json_value_at(doc, i), 0);
            row(q, label->s, v);
        }
    }
    P(q, "</table>\n");
    mv_free(v);
}
