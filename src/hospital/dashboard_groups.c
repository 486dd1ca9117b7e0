/* dashboard_groups.c - the dashboard's Groups page (read-only): every group, and one group's
 * members with their status, its epochs with roster hash and member count, its revocation
 * list, its openers and its event log (openings included). The group's state is read through
 * the registry's JSON of it (registry_group_json), the same description the JSON API serves,
 * so the page and the API never disagree. Nothing secret is shown: no key leaves the key
 * directory, and ring keys are public (they are in every roster). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hospital/dashboard_internal.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

#define GROUP_JSON_MAX ((size_t)8 << 20)
#define EVENTS_SHOWN 500

/* t as "YYYY-MM-DD HH:MM UTC"; "-" for 0. */
static void when(char out[32], uint64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!t || !gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(out, 32, "-");
}

static const char *str_of(const mv_json *o, const char *key)
{
    const char *s = mv_json_get_str(o, key, NULL);
    return s ? s : "";
}

static uint64_t u64_of(const mv_json *o, const char *key)
{
    uint64_t v = 0;
    return mv_json_get_u64(o, key, &v) == MV_OK ? v : 0;
}

/* Runs a registry JSON writer into b and parses it into *root (caller frees). */
static mv_err parsed(mv_err rc, const mv_buf *b, mv_json **root)
{
    mv_json_limits lim = {.max_bytes = GROUP_JSON_MAX, .max_depth = 8, .max_nodes = 1000000};
    *root = NULL;
    return rc != MV_OK ? rc : mv_json_parse((const char *)b->ptr, b->len, &lim, root, NULL);
}

static void groups_list(hospital_dash *d, const who *w, mv_hw *o)
{
    mv_buf b;
    mv_json *root = NULL;
    mv_buf_init(&b, GROUP_JSON_MAX);
    mv_err rc = parsed(registry_groups_json(d->reg, w->id, 1, &b), &b, &root);
    const mv_json *arr = mv_json_get(root, "groups");
    if (rc != MV_OK) {
        o->rc = rc;
    } else if (mv_json_len(arr) == 0) {
        mv_hw_raw(o, "<p class=\"muted\" id=\"empty\">No groups yet. `medvault group create NAME` makes one.</p>\n");
    } else {
        mv_hw_raw(o, "<table id=\"groups\"><thead><tr><th>Name</th><th>Id</th><th>Epoch</th><th>Members</th>"
                     "<th>Openers</th><th>Created</th></tr></thead><tbody>\n");
        for (size_t i = 0; i < mv_json_len(arr); i++) {
            const mv_json *g = mv_json_at(arr, i);
            char created[32];
            when(created, u64_of(g, "created_at"));
            mv_hw_printf(o,
                         "<tr><td><a href=\"/admin/groups?g=%s\">%s</a></td><td><code>%s</code></td><td>%llu</td>"
                         "<td>%llu</td><td>%llu of %llu</td><td>%s</td></tr>\n",
                         str_of(g, "id"), str_of(g, "name"), str_of(g, "id"),
                         (unsigned long long)u64_of(g, "epoch"), (unsigned long long)u64_of(g, "member_count"),
                         (unsigned long long)u64_of(g, "t"), (unsigned long long)u64_of(g, "n"), created);
        }
        mv_hw_raw(o, "</tbody></table>\n");
    }
    mv_json_free(root);
    mv_buf_clear(&b);
}

static mv_err event_row(void *ctx, const registry_group_event_row *row)
{
    mv_hw *o = ctx;
    char at[32];
    when(at, row->at);
    mv_hw_printf(o, "<tr class=\"ev-%s\"><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", row->kind, at,
                 row->kind, row->actor[0] ? row->actor : "-", row->details);
    return o->rc;
}

/* The members table and the revocation list (removed members who had a ring key). */
static void members_sections(mv_hw *o, const mv_json *members)
{
    size_t revoked = 0;
    mv_hw_raw(o, "<h2>Members</h2>\n<table id=\"members\"><thead><tr><th>Name</th><th>Status</th><th>Sign key</th>"
                 "<th>Ring key</th><th>Joined in epoch</th><th>Removed in epoch</th><th>History</th></tr></thead>"
                 "<tbody>\n");
    for (size_t i = 0; i < mv_json_len(members); i++) {
        const mv_json *m = mv_json_at(members, i);
        int history = 0;
        (void)mv_json_bool(mv_json_get(m, "history"), &history);
        const char *ring = str_of(m, "ring_public_key");
        if (!strcmp(str_of(m, "status"), "removed") && ring[0])
            revoked++;
        mv_hw_printf(o,
                     "<tr class=\"st-%s\"><td>%s</td><td>%s</td><td><code class=\"key\">%s</code></td><td><code class=\"key\">%s</code></td>"
                     "<td>%llu</td><td>%llu</td><td>%s</td></tr>\n",
                     str_of(m, "status"), str_of(m, "name"), str_of(m, "status"), str_of(m, "sign_public_key"),
                     ring[0] ? ring : "-", (unsigned long long)u64_of(m, "joined_epoch"),
                     (unsigned long long)u64_of(m, "removed_epoch"), history ? "yes" : "from its epoch on");
    }
    mv_hw_raw(o, "</tbody></table>\n");
    mv_hw_raw(o, "<h2>Revocation list</h2>\n");
    if (!revoked) {
        mv_hw_raw(o, "<p class=\"muted\" id=\"revocations-empty\">No member has been removed.</p>\n");
        return;
    }
    mv_hw_raw(o, "<table id=\"revocations\"><thead><tr><th>Ring key</th><th>Member</th><th>Removed in epoch</th>"
                 "</tr></thead><tbody>\n");
    for (size_t i = 0; i < mv_json_len(members); i++) {
        const mv_json *m = mv_json_at(members, i);
        if (strcmp(str_of(m, "status"), "removed") != 0 || !str_of(m, "ring_public_key")[0])
            continue;
        mv_hw_printf(o, "<tr><td><code>%s</code></td><td>%s</td><td>%llu</td></tr>\n", str_of(m, "ring_public_key"),
                     str_of(m, "name"), (unsigned long long)u64_of(m, "removed_epoch"));
    }
    mv_hw_raw(o, "</tbody></table>\n");
}

static void group_page(hospital_dash *d, const who *w, const char *name, mv_hw *o, int *status)
{
    registry_group g;
    mv_buf b;
    mv_json *root = NULL;
    mv_err rc = registry_group_get(d->reg, name, &g);
    if (rc == MV_ERR_NOT_FOUND) {
        *status = 404;
        mv_hw_raw(o, "<p class=\"error\" id=\"message\">There is no such group.</p>\n");
        return;
    }
    mv_buf_init(&b, GROUP_JSON_MAX);
    if (rc == MV_OK)
        rc = parsed(registry_group_json(d->reg, g.id, w->id, 1, &b), &b, &root);
    if (rc != MV_OK) {
        o->rc = rc;
        goto out;
    }
    char created[32];
    when(created, g.created_at);
    mv_hw_printf(o,
                 "<h2 id=\"group-name\">%s</h2>\n<dl id=\"summary\"><dt>Id</dt><dd><code>%s</code></dd>"
                 "<dt>Epoch</dt><dd id=\"epoch\">%llu</dd><dt>Key chain since epoch</dt><dd>%llu</dd>"
                 "<dt>Openers</dt><dd>any %u of %u</dd><dt>Opener key (EK)</dt><dd><code>%s</code></dd>"
                 "<dt>Created</dt><dd>%s</dd></dl>\n",
                 g.name, str_of(root, "id"), (unsigned long long)g.epoch, (unsigned long long)g.chain_start, g.t, g.n,
                 str_of(root, "ek"), created);
    members_sections(o, mv_json_get(root, "members"));
    const mv_json *op = mv_json_get(root, "openers");
    mv_hw_raw(o, "<h2>Openers</h2>\n<table id=\"openers\"><thead><tr><th>Share</th><th>Name</th><th>Sign key</th>"
                 "</tr></thead><tbody>\n");
    for (size_t i = 0; i < mv_json_len(op); i++) {
        const mv_json *x = mv_json_at(op, i);
        mv_hw_printf(o, "<tr><td>%llu</td><td>%s</td><td><code class=\"key\">%s</code></td></tr>\n",
                     (unsigned long long)u64_of(x, "index"), str_of(x, "name"), str_of(x, "sign_public_key"));
    }
    mv_hw_raw(o, "</tbody></table>\n");
    const mv_json *ep = mv_json_get(root, "epochs");
    mv_hw_raw(o, "<h2>Epochs</h2>\n");
    if (mv_json_len(ep) == 0) {
        mv_hw_raw(o, "<p class=\"muted\" id=\"epochs-empty\">Nobody has joined yet.</p>\n");
    } else {
        mv_hw_raw(o, "<table id=\"epochs\"><thead><tr><th>Epoch</th><th>Members</th><th>Roster hash</th>"
                     "<th>Key chain</th><th>Issued</th></tr></thead><tbody>\n");
        for (size_t i = 0; i < mv_json_len(ep); i++) {
            const mv_json *e = mv_json_at(ep, i);
            const char *hash = str_of(e, "roster_hash");
            char issued[32];
            when(issued, u64_of(e, "issued_at"));
            mv_hw_printf(o, "<tr><td>%llu</td><td>%llu</td><td><code>%s</code></td><td>%llu</td><td>%s</td></tr>\n",
                         (unsigned long long)u64_of(e, "epoch"), (unsigned long long)u64_of(e, "members"),
                         hash[0] ? hash : "no roster (fewer than 2 members)", (unsigned long long)u64_of(e, "chain_start"),
                         issued);
        }
        mv_hw_raw(o, "</tbody></table>\n");
    }
    mv_hw_raw(o, "<h2>Event log</h2>\n<table id=\"events\"><thead><tr><th>When</th><th>What</th><th>Who</th>"
                 "<th>Details</th></tr></thead><tbody>\n");
    if (o->rc == MV_OK)
        o->rc = registry_group_event_rows(d->reg, g.id, EVENTS_SHOWN, event_row, o);
    mv_hw_raw(o, "</tbody></table>\n");
out:
    mv_json_free(root);
    mv_buf_clear(&b);
}

mv_err dash_page_groups(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp,
                        int *status)
{
    mv_hw o;
    char name[REGISTRY_GROUP_NAME_MAX + 1];
    const char *q = mv_http_query(req);
    *status = 200;
    mv_hw_init(&o, &resp->body);
    dash_begin(&o, "Groups", "/admin/groups");
    mv_err rc = mv_http_form_get(q, strlen(q), "g", name, sizeof name);
    if (rc == MV_OK) {
        group_page(d, w, name, &o, status);
        mv_hw_raw(&o, "<p><a href=\"/admin/groups\">All groups</a></p>\n");
    } else if (rc == MV_ERR_NOT_FOUND) {
        groups_list(d, w, &o);
    } else {
        *status = 400;
        mv_hw_raw(&o, "<p class=\"error\" id=\"message\">A group is named by its name or id.</p>\n");
    }
    dash_end(&o, w);
    return mv_hw_finish(&o);
}
