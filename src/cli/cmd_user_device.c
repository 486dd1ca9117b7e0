/* cmd_user_device.c - `medvault user device add|list`: the step-up device keys an admin
 * registers for a user; only a device's public key is sent. */
#include <stdio.h>
#include <string.h>

#include "workflow.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_identity.h"

static const char device_add_usage[] =
    "usage: medvault user device add KEY (--device-key DIR | --device-pk HEX) [--name NAME] [--json]\n\n"
    "As an admin: registers a device key for the user KEY (64 hex digits); a signature by it is\n"
    "a step-up proof (`medvault stepup --device-key DIR`). Make a device key directory with\n"
    "`medvault keygen --out DIR`; only its public key is sent.\n" CLI_COMMON_HELP;
static const char device_list_usage[] = "usage: medvault user device list KEY [--json]\n" CLI_COMMON_HELP;

static int device_add(int argc, char **argv)
{
    static const wf_opt own[] = {{"device-key", 0}, {"device-pk", 1}, {"name", 2}};
    wf_opts o;
    uint8_t key[32], dev[32];
    char path[128], dev_hex[65];
    mv_buf body;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, device_add_usage, own, 3, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 1, device_add_usage)) >= 0)
        return r;
    if (cli_hex_arg(argv[optind], key, 32, "KEY") != 0)
        return CLI_USAGE;
    if (!o.v[0] == !o.v[1]) {
        cli_err("give exactly one of --device-key DIR and --device-pk HEX");
        return CLI_USAGE;
    }
    if (o.v[1]) {
        if (cli_hex_arg(o.v[1], dev, 32, "--device-pk") != 0)
            return CLI_USAGE;
    } else {
        mv_identity *d = NULL;
        mv_err rc = mv_identity_load(o.v[0], &d);
        if (rc != MV_OK) {
            cli_err("%s: cannot load the device key (%s)", o.v[0], mv_strerror(rc));
            return CLI_FAIL;
        }
        memcpy(dev, mv_identity_sign_pk(d), 32);
        mv_identity_free(d);
    }
    if (mv_hex_encode(dev_hex, sizeof dev_hex, dev, 32) != MV_OK)
        return CLI_FAIL;
    snprintf(path, sizeof path, "/v1/users/%s/devices", argv[optind]);
    mv_buf_init(&body, 1024);
    if (mv_buf_puts(&body, "{") != MV_OK || wf_json_str(&body, "device_pk", dev_hex) != MV_OK ||
        wf_json_str(&body, "name", o.v[2]) != MV_OK || mv_buf_puts(&body, "}") != MV_OK) {
        mv_buf_clear(&body);
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, "POST", path, &body, &root)) == CLI_OK && !o.c.json)
        printf("device %s registered for user %.16s...\n", dev_hex, argv[optind]);
    mv_json_free(root);
    mv_buf_clear(&body);
    return r;
}

static int device_list(int argc, char **argv)
{
    static const wf_col cols[] = {{"DEVICE", "device_pk", COL_STR}, {"NAME", "name", COL_STR},
                                  {"ADDED", "added_at", COL_TIME}};
    wf_opts o;
    uint8_t key[32];
    char path[128];
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, device_list_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 1, device_list_usage)) >= 0)
        return r;
    if (cli_hex_arg(argv[optind], key, 32, "KEY") != 0)
        return CLI_USAGE;
    snprintf(path, sizeof path, "/v1/users/%s/devices", argv[optind]);
    if ((r = wf_simple(&o, "GET", path, NULL, &root)) == CLI_OK && !o.c.json)
        wf_print_table(mv_json_get(root, "devices"), cols, 3);
    mv_json_free(root);
    return r;
}

int cli_user_device(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"add", device_add, "register a step-up device key for a user (admins)"},
        {"list", device_list, "list a user's device keys (admins)"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault user device", table, argc, argv);
}
