/* cmd_canon.c - `medvault canon`: the canonical form of a JSON file, or its FHIR split.
 * Error messages name the file and a byte offset, never the file's content. */
#include <string.h>

#include "cli.h"
#include "medvault/mv_canon.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"

/* mv_json_parse's default input cap: larger inputs would be refused by the parser anyway. */
#define CANON_MAX_INPUT ((size_t)16 << 20)

static const char canon_usage[] =
    "usage: medvault canon [--versionless] [--split [--json]] [--profiles FILE] FILE\n\n"
    "Prints the canonical form of the JSON in FILE ('-' for standard input): RFC 8785 member\n"
    "order and string escaping, no whitespace, numbers exactly as written (docs/records.md).\n"
    "Exactly those bytes, as `medvault get` returns the record: no newline is added, except\n"
    "after the output when standard output is a terminal.\n\n"
    "  --split          split a FHIR resource or Bundle into its envelope and content blocks\n"
    "                   and print each part with its size\n"
    "  --json           with --split: print one JSON object instead\n"
    "                   {\"canonical_bytes\":N,\"envelope\":{...},\"blocks\":[{\"slot\":\"root\"|I,\n"
    "                   \"bytes\":N,\"content\":{...}}]}\n"
    "  --profiles FILE  split profiles to use instead of the built-in ones\n"
    "  --versionless    leave out meta.versionId and meta.lastUpdated (what a FHIR store sets\n"
    "                   on every version: compare a resource with what `medvault get` returns)\n\n"
    "Exit status: 0 ok, 1 unreadable or invalid input, 2 usage error.\n";

static mv_err read_stdin(mv_buf *out)
{
    uint8_t chunk[65536];
    size_t n;
    mv_err rc;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        if (n > CANON_MAX_INPUT - out->len)
            return MV_ERR_TOO_LARGE;
        if ((rc = mv_buf_append(out, chunk, n)) != MV_OK)
            return rc;
    }
    return ferror(stdin) ? MV_ERR_IO : MV_OK;
}

static mv_err print_split(const mv_fhir_split *s, size_t canonical_bytes, int json, mv_buf *o)
{
    mv_err rc;
    if (json) {
        /* The envelope and the blocks are canonical JSON documents already: written verbatim. */
        mv_jw w;
        mv_jw_init(&w, o);
        mv_jw_obj(&w);
        mv_jw_ku64(&w, "canonical_bytes", canonical_bytes);
        mv_jw_key(&w, "envelope");
        mv_jw_raw(&w, (const char *)s->envelope.ptr, s->envelope.len);
        mv_jw_key(&w, "blocks");
        mv_jw_arr(&w);
        for (size_t k = 0; k < s->n_blocks; k++) {
            mv_jw_obj(&w);
            if (s->slots[k] == MV_FHIR_SLOT_ROOT)
                mv_jw_kstr(&w, "slot", "root");
            else
                mv_jw_ku64(&w, "slot", s->slots[k]);
            mv_jw_ku64(&w, "bytes", s->blocks[k].len);
            mv_jw_key(&w, "content");
            mv_jw_raw(&w, (const char *)s->blocks[k].ptr, s->blocks[k].len);
            mv_jw_obj_end(&w);
        }
        mv_jw_arr_end(&w);
        mv_jw_obj_end(&w);
        return (rc = mv_jw_finish(&w)) == MV_OK ? mv_buf_puts(o, "\n") : rc;
    }
    if ((rc = mv_buf_printf(o, "envelope (%zu bytes):\n", s->envelope.len)) != MV_OK ||
        (rc = mv_buf_append(o, s->envelope.ptr, s->envelope.len)) != MV_OK || (rc = mv_buf_puts(o, "\n")) != MV_OK)
        return rc;
    for (size_t k = 0; k < s->n_blocks; k++) {
        rc = s->slots[k] == MV_FHIR_SLOT_ROOT
                 ? mv_buf_printf(o, "block %zu (root, %zu bytes):\n", k, s->blocks[k].len)
                 : mv_buf_printf(o, "block %zu (entry %lu, %zu bytes):\n", k, (unsigned long)s->slots[k],
                                 s->blocks[k].len);
        if (rc != MV_OK || (rc = mv_buf_append(o, s->blocks[k].ptr, s->blocks[k].len)) != MV_OK ||
            (rc = mv_buf_puts(o, "\n")) != MV_OK)
            return rc;
    }
    return MV_OK;
}

int cmd_canon(int argc, char **argv)
{
    static const struct option opts[] = {
        {"split", no_argument, NULL, 's'},          {"json", no_argument, NULL, 'j'},
        {"profiles", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
        {"versionless", no_argument, NULL, 'v'},    {NULL, 0, NULL, 0},
    };
    const char *profiles_path = NULL, *path, *name;
    int c, split = 0, json = 0, versionless = 0, ret = CLI_FAIL;
    mv_buf in, canon, o;
    mv_json *doc = NULL;
    mv_fhir_profiles *prof = NULL;
    mv_fhir_split s;
    size_t off = 0;
    const char *why = NULL;
    mv_err rc;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': split = 1; break;
        case 'j': json = 1; break;
        case 'p': profiles_path = optarg; break;
        case 'v': versionless = 1; break;
        case 'h': return cli_usage(canon_usage, 1);
        default: return cli_usage(canon_usage, 0);
        }
    }
    if (optind != argc - 1 || (json && !split) || (profiles_path && !split))
        return cli_usage(canon_usage, 0);
    path = argv[optind];
    name = strcmp(path, "-") ? path : "<stdin>";
    mv_buf_init(&in, CANON_MAX_INPUT);
    mv_buf_init(&canon, CANON_MAX_INPUT);
    mv_buf_init(&o, 3 * MV_FHIR_MAX_BYTES);
    mv_fhir_split_init(&s);

    if (profiles_path) {
        if ((rc = mv_fhir_profiles_load(profiles_path, &prof)) != MV_OK) {
            cli_err("%s: cannot load split profiles (%s)", profiles_path, mv_strerror(rc));
            goto out;
        }
    } else if (split && (rc = mv_fhir_profiles_default(&prof)) != MV_OK) {
        cli_err("cannot load the built-in split profiles (%s)", mv_strerror(rc));
        goto out;
    }
    rc = strcmp(path, "-") ? mv_file_read(path, CANON_MAX_INPUT, &in) : read_stdin(&in);
    if (rc != MV_OK) {
        cli_err("%s: cannot read (%s)", name, mv_strerror(rc));
        goto out;
    }
    if ((rc = mv_json_parse_why((const char *)in.ptr ? (const char *)in.ptr : "", in.len, NULL, &doc, &off, &why)) !=
        MV_OK) {
        cli_err("%s: invalid JSON at byte %zu (%s)", name, off, why);
        goto out;
    }
    if (versionless && mv_json_type_of(doc) != MV_JSON_OBJECT) {
        cli_err("%s: --versionless needs a JSON object", name);
        goto out;
    }
    if ((rc = versionless ? mv_fhir_restamp(doc, NULL, NULL, &canon) : mv_canon_write(&canon, doc)) != MV_OK) {
        cli_err("%s: cannot write the canonical form (%s)", name, mv_strerror(rc));
        goto out;
    }
    if (!split) {
        rc = mv_buf_append(&o, canon.ptr, canon.len);
    } else if ((rc = mv_fhir_split_doc(prof, doc, &s)) == MV_ERR_PARSE) {
        cli_err("%s: not a FHIR resource or Bundle (no string \"resourceType\" at the top level)", name);
        goto out;
    } else if (rc == MV_OK) {
        rc = print_split(&s, canon.len, json, &o);
    }
    if (rc != MV_OK) {
        cli_err("%s: %s", name, mv_strerror(rc));
        goto out;
    }
    ret = split ? cli_print_buf(&o) : cli_print_content(o.ptr, o.len);
    if (ret != CLI_OK)
        cli_err("cannot write to standard output");
out:
    mv_fhir_split_clear(&s);
    mv_fhir_profiles_free(prof);
    mv_json_free(doc);
    mv_buf_clear(&in);
    mv_buf_clear(&canon);
    mv_buf_clear(&o);
    return ret;
}
