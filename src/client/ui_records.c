/* ui_records.c - the UI's record page: one record decrypted in this process and shown
 * HTML-escaped, and the forms that share it with a reader or name its patient. The list of
 * records is ui_find.c. */
#include "ui_internal.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_fhirstore.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"

/* The storage server's listing; NULL (reason in why) on failure. */
static mv_json *record_list(struct ui *u, char *why, size_t cap)
{
    mv_buf out;
    mv_json *root = NULL;
    mv_buf_init(&out, JSON_MAX);
    mv_err rc = mv_client_list_json(u->client, &out);
    if (rc == MV_OK)
        rc = mv_json_parse((const char *)out.ptr, out.len, NULL, &root, NULL);
    if (rc != MV_OK)
        snprintf(why, cap, "cannot list records: %s (%s)", mv_strerror(rc), mv_client_last_error(u->client));
    mv_buf_clear(&out);
    return root;
}

static const char *who(const struct ui *u, const char *hex, char k[17])
{
    if (!hex[0])
        return "-";
    if (!strcmp(hex, u->me))
        return "you";
    mvc_ui_short_key(hex, k);
    return k;
}

/* People the user may pick as a grantee: the doctors of a patient's own appointments
 * (patients cannot search the directory), else the doctors in the directory. */
struct person {
    char key[65];
    char name[96];
};
struct people {
    struct person v[MAX_PEOPLE];
    size_t n;
};

static void people_add(struct people *pp, const mv_json *o)
{
    const char *k = mvc_ui_js(o, "sign_public_key");
    if (!mv_is_lower_hex(k, 64) || pp->n == MAX_PEOPLE)
        return;
    for (size_t i = 0; i < pp->n; i++)
        if (!strcmp(pp->v[i].key, k))
            return;
    snprintf(pp->v[pp->n].key, sizeof pp->v[pp->n].key, "%s", k);
    snprintf(pp->v[pp->n].name, sizeof pp->v[pp->n].name, "%s", mvc_ui_js(o, "name"));
    pp->n++;
}

static void people_load(struct ui *u, struct people *pp)
{
    char why[256];
    pp->n = 0;
    if (mvc_ui_is_role(u, "patient")) {
        mv_json *root = mvc_ui_hosp_get(u, "/v1/appointments?patient=me", why, sizeof why);
        const mv_json *a = mv_json_get(root, "appointments");
        for (size_t i = 0; i < mv_json_len(a); i++)
            people_add(pp, mv_json_get(mv_json_at(a, i), "doctor"));
        mv_json_free(root);
    } else {
        mv_json *root = mvc_ui_hosp_get(u, "/v1/directory?role=doctor&limit=200", why, sizeof why);
        const mv_json *a = mv_json_get(root, "users");
        for (size_t i = 0; i < mv_json_len(a); i++)
            if (strcmp(mvc_ui_js(mv_json_at(a, i), "sign_public_key"), u->me))
                people_add(pp, mv_json_at(a, i));
        mv_json_free(root);
    }
}

static void person_picker(struct req *q, const struct people *pp)
{
    char k[17];
    if (pp->n) {
        P(q, "<label>Doctor <select name=\"pick\"><option value=\"\">(choose)</option>");
        for (size_t i = 0; i < pp->n; i++) {
            mvc_ui_short_key(pp->v[i].key, k);
            P(q, "<option value=\"%s\">%s (%s&hellip;)</option>", pp->v[i].key, pp->v[i].name, k);
        }
        P(q, "</select></label> or ");
    }
    P(q, "<label>key <input name=\"key\" size=\"66\" maxlength=\"64\" pattern=\"[0-9a-f]{64}\" "
         "placeholder=\"64 hex digits\"></label> ");
}

static void share_forms(struct req *q, const char *id, const mv_json *meta)
{
    struct ui *u = q->u;
    struct people *pp = mv_calloc(1, sizeof *pp);
    char action[80], k[17];
    const char *owner = mvc_ui_js(meta, "owner"), *patient = mvc_ui_js(meta, "patient"), *episode = mvc_ui_js(meta, "episode");
    if (!pp) {
        q->w.rc = MV_ERR_NOMEM;
        return;
    }
    people_load(u, pp);
    snprintf(action, sizeof action, "/records/%s/share", id);
    char k2[17];
    P(q, "<h2>Who may read it</h2>\n<p>Owner: %s. Patient: %s.", who(u, owner, k), patient[0] ? who(u, patient, k2) : "none");
    const mv_json *readers = mv_json_get(meta, "readers");
    if (mv_json_type_of(readers) == MV_JSON_ARRAY) {
        P(q, "</p>\n<table><tr><th>Reader</th><th></th></tr>\n");
        for (size_t i = 0; i < mv_json_len(readers); i++) {
            const char *r = mv_json_str(mv_json_at(readers, i), NULL);
            if (!r || !mv_is_lower_hex(r, 64))
                continue;
            const char *name = r;
            for (size_t j = 0; j < pp->n; j++)
                if (!strcmp(pp->v[j].key, r))
                    name = pp->v[j].name;
            P(q, "<tr><td>%s <code>%.16s</code></td><td>", name == r ? "" : name, r);
            if (strcmp(r, owner) && strcmp(r, patient)) {
                mvc_ui_form_open(q, action, 1);
                P(q, "<input type=\"hidden\" name=\"action\" value=\"revoke\"><input type=\"hidden\" name=\"key\" "
                     "value=\"%s\"><button>Revoke</button></form>",
                  r);
            }
            P(q, "</td></tr>\n");
        }
        P(q, "</table>\n");
    } else {
        P(q, "</p>\n");
    }
    mvc_ui_form_open(q, action, 0);
    P(q, "<p><b>This record:</b> ");
    person_picker(q, pp);
    P(q, "<button name=\"action\" value=\"grant\">Grant</button> <button name=\"action\" value=\"revoke\">Revoke"
         "</button></p></form>\n");
    if (mv_is_lower_hex(episode, 32)) {
        mvc_ui_form_open(q, action, 0);
        P(q, "<input type=\"hidden\" name=\"episode\" value=\"%s\"><p><b>The whole episode</b> "
             "(every record of this visit you may share): ",
          episode);
        person_picker(q, pp);
        P(q, "<button name=\"action\" value=\"grant\">Grant</button> <button name=\"action\" value=\"revoke\">"
             "Revoke</button></p></form>\n");
    }
    if (!patient[0] && !strcmp(owner, u->me)) {
        snprintf(action, sizeof action, "/records/%s/patient", id);
        mvc_ui_form_open(q, action, 0);
        P(q, "<p><b>Name this record&#39;s patient</b> (once; they can then read and share it): <input name=\"mrn\" "
             "placeholder=\"MRN-000001\" maxlength=\"32\"> <button>Set patient</button></p></form>\n");
    }
    mv_free(pp);
}

#define VERSIONS_SHOWN 20

struct versions_ctx {
    struct req *q;
    uint32_t current;
    size_t n;
};

/* One version's link (the one on screen in bold), newest first. */
static int version_link(void *ctx, const mv_fhir_entry *e)
{
    struct versions_ctx *vc = ctx;
    char hex[2 * MV_CLIENT_ID_BYTES + 1];
    if (vc->n++ == VERSIONS_SHOWN) {
        P(vc->q, " &hellip;");
        return 1;
    }
    if (e->version == vc->current || mv_hex_encode(hex, sizeof hex, e->record_id, MV_CLIENT_ID_BYTES) != MV_OK)
        P(vc->q, " <b>%u</b>", (unsigned)e->version);
    else
        P(vc->q, " <a href=\"/records/%s\">%u</a>", hex, (unsigned)e->version);
    return 0;
}

/* What the local index knows of this record: "Type/id, version N, updated T". Returns 1 if
 * it knows the record as a FHIR resource with an id (*e filled), else 0. */
static int index_line(struct req *q, const uint8_t bid[16], mv_fhir_entry *e)
{
    if (mv_client_index_entry(q->u->client, bid, e) != MV_OK || !e->type[0] || !e->id[0])
        return 0;
    P(q, " <code>%s/%s</code>", e->type, e->id);
    if (e->version)
        P(q, ", version %u%s", (unsigned)e->version, e->latest ? "" : " (a later version exists)");
    if (e->last_updated[0])
        P(q, ", updated %s", e->last_updated);
    P(q, ".");
    return 1;
}

/* Links to every version of e's resource when it has more than one. */
static void versions_line(struct req *q, const mv_fhir_entry *e)
{
    struct versions_ctx vc = {.q = q, .current = e->version};
    if (!e->version || (e->version == 1 && e->latest))
        return;
    P(q, "<p id=\"versions\">Versions:");
    (void)!mv_client_fhir_history(q->u->client, e->type, e->id, version_link, &vc);
    P(q, "</p>\n");
}

void mvc_ui_handle_record(struct req *q, const char *id)
{
    struct ui *u = q->u;
    uint8_t bid[16];
    char why[320] = "", name[256] = "", title[64];
    int kind = 0;
    mv_buf content, pp;
    mv_json *list = NULL, *doc = NULL;
    const mv_json *meta = NULL;
    mv_fhir_entry entry;
    mv_buf_init(&content, RECORD_MAX);
    mv_buf_init(&pp, RECORD_MAX);
    if (mv_hex_decode_exact(bid, 16, id, 32) != MV_OK) {
        mvc_ui_page_error(q, 404, "Not found", "No such record.");
        goto out;
    }
    mv_err rc = mv_client_get(u->client, bid, &content, &kind, name, sizeof name);
    if (rc != MV_OK) {
        snprintf(why, sizeof why, "Cannot read this record: %s (%s)", mv_strerror(rc), mv_client_last_error(u->client));
        mvc_ui_page_error(q, rc == MV_ERR_NOT_FOUND ? 404 : rc == MV_ERR_FORBIDDEN ? 403 : 502, "Record", why);
        goto out;
    }
    if ((list = record_list(u, why, sizeof why)) != NULL) {
        const mv_json *a = mv_json_get(list, "records");
        for (size_t i = 0; i < mv_json_len(a) && !meta; i++)
            if (!strcmp(mvc_ui_js(mv_json_at(a, i), "id"), id))
                meta = mv_json_at(a, i);
    }
    if (kind == MV_RECORD_FHIR &&
        mv_json_parse((const char *)content.ptr, content.len, NULL, &doc, NULL) == MV_OK)
        snprintf(title, sizeof title, "%s", mvc_ui_js(doc, "resourceType"));
    else
        snprintf(title, sizeof title, "%s", kind == MV_RECORD_FHIR ? "FHIR record" : "Attachment");
    mvc_ui_page_begin(q, title[0] ? title : "Record", NULL);
    P(q, "<p class=\"muted\">Record <code>%s</code>, decrypted on this computer.", id);
    int indexed = index_line(q, bid, &entry);
    if (meta) {
        char t[64];
        mvc_ui_jtime(meta, "created", t, sizeof t);
        P(q, " Department %s, stored %s.", mvc_ui_js(meta, "department"), t);
    }
    P(q, "</p>\n");
    if (indexed)
        versions_line(q, &entry);
    if (doc) {
        mvc_ui_fhir_summary(q, doc);
        if (q->w.rc == MV_OK)
            q->w.rc = mvc_ui_pretty(&pp, doc, 0);
        /* The JSON as stored, for whoever needs every field: closed until asked for. */
        P(q, "<details id=\"raw\"><summary>Raw JSON</summary><pre><code>%s</code></pre></details>\n",
          pp.ptr ? (const char *)pp.ptr : "");
    } else if (kind == MV_RECORD_FHIR) {
        P(q, "<p class=\"muted\">This FHIR record is not valid JSON; it is shown as stored.</p>\n"
             "<pre><code>%s</code></pre>\n", content.ptr ? (const char *)content.ptr : "");
    } else {
        P(q, "<p>Attachment <b>%s</b>, %zu bytes (not shown here; use <code>medvault get</code>).</p>\n", name,
          content.len);
    }
    if (meta && (!strcmp(mvc_ui_js(meta, "owner"), u->me) || !strcmp(mvc_ui_js(meta, "patient"), u->me)))
        share_forms(q, id, meta);
    mvc_ui_page_end(q, 200);
out:
    mv_json_free(doc);
    mv_json_free(list);
    mv_buf_clear(&pp);
    mv_buf_clear(&content);
}

void mvc_ui_record_share(struct req *q, const char *id)
{
    struct ui *u = q->u;
    char action[16], key[80], pick[80], episode[40], back[64];
    uint8_t bid[16], target[32];
    size_t changed = 0;
    mv_err rc;
    snprintf(back, sizeof back, "/records/%s", id);
    mvc_ui_field(q, "action", action, sizeof action);
    mvc_ui_field(q, "key", key, sizeof key);
    mvc_ui_field(q, "pick", pick, sizeof pick);
    mvc_ui_field(q, "episode", episode, sizeof episode);
    const char *k = key[0] ? key : pick;
    int grant = !strcmp(action, "grant");
    if ((!grant && strcmp(action, "revoke")) || !mv_is_lower_hex(k, 64) || mv_hex_decode_exact(target, 32, k, 64) != MV_OK ||
        mv_hex_decode_exact(bid, 16, id, 32) != MV_OK) {
        mvc_ui_set_flash(u, 0, NULL, "Choose a doctor or type their key (64 hex digits).");
        mvc_ui_redirect(q->resp, back);
        return;
    }
    if (episode[0]) {
        if (!mv_is_lower_hex(episode, 32)) {
            mvc_ui_set_flash(u, 0, NULL, "Bad episode.");
            mvc_ui_redirect(q->resp, back);
            return;
        }
        rc = mv_client_share_episode(u->client, episode, target, grant, &changed);
    } else {
        rc = mv_client_share(u->client, bid, target, grant);
    }
    if (rc == MV_OK && episode[0])
        mvc_ui_set_flash(u, 1, NULL, "%s %.16s... for %zu record(s) of the episode.", grant ? "Granted access to" : "Revoked access of",
                  k, changed);
    else if (rc == MV_OK)
        mvc_ui_set_flash(u, 1, NULL, "%s %.16s...", grant ? "Granted read access to" : "Revoked read access of", k);
    else
        mvc_ui_set_flash(u, 0, NULL, "Sharing failed: %s (%s)", mv_strerror(rc), mv_client_last_error(u->client));
    mvc_ui_redirect(q->resp, back);
}

void mvc_ui_record_patient(struct req *q, const char *id)
{
    char mrn[40], back[64];
    uint8_t bid[16];
    snprintf(back, sizeof back, "/records/%s", id);
    mvc_ui_field(q, "mrn", mrn, sizeof mrn);
    if (!mvc_ui_is_mrn(mrn) || mv_hex_decode_exact(bid, 16, id, 32) != MV_OK) {
        mvc_ui_set_flash(q->u, 0, NULL, "Type the patient's MRN (like MRN-000001).");
    } else {
        mv_err rc = mv_client_grant_patient(q->u->client, bid, mrn);
        if (rc == MV_OK)
            mvc_ui_set_flash(q->u, 1, NULL, "The record now belongs to patient %s.", mrn);
        else
            mvc_ui_set_flash(q->u, 0, NULL, "Setting the patient failed: %s (%s)", mv_strerror(rc),
                      mv_client_last_error(q->u->client));
    }
    mvc_ui_redirect(q->resp, back);
}
