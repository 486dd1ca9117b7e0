/* cmd_ui.c - `medvault ui`: the user's local web UI, on loopback only, behind a login token. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "medvault/mv_ui.h"

static const char ui_usage[] =
    "usage: medvault ui [--deployment F] [--user DIR] [--listen 127.0.0.1:PORT] [--port-file F]\n\n"
    "Serves your own web UI on this computer: your profile and appointments, the records you\n"
    "may read (fetched and decrypted here, never anywhere else), sharing them, and for doctors\n"
    "prescriptions from the formulary and treatment orders. It prints one line,\n"
    "  medvault ui: open http://127.0.0.1:PORT/login?token=TOKEN\n"
    "to open in your browser (the token works while this process runs; keep it private).\n"
    "SIGINT or SIGTERM stops it.\n"
    "  --deployment F   the deployment file (default $MEDVAULT_DEPLOYMENT)\n"
    "  --user DIR       the user's directory: keys and credential (default $MEDVAULT_USER)\n"
    "  --listen A:P     a loopback address 127.x.y.z and port (default 127.0.0.1:0, any free port)\n"
    "  --port-file F    write the port there once listening\n";

int cmd_ui(int argc, char **argv)
{
    static const struct option opts[] = {
        {"deployment", required_argument, NULL, 'D'}, {"user", required_argument, NULL, 'u'},
        {"listen", required_argument, NULL, 'l'},     {"port-file", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    mv_ui_config cfg = {.deployment_path = getenv("MEDVAULT_DEPLOYMENT"), .user_dir = getenv("MEDVAULT_USER"),
                        .listen = "127.0.0.1:0"};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'D': cfg.deployment_path = optarg; break;
        case 'u': cfg.user_dir = optarg; break;
        case 'l': cfg.listen = optarg; break;
        case 'p': cfg.port_file = optarg; break;
        case 'h': return cli_usage(ui_usage, 1);
        default: return cli_usage(ui_usage, 0);
        }
    }
    if (optind != argc || !cfg.deployment_path || !cfg.user_dir) {
        if (!cfg.deployment_path || !cfg.user_dir)
            cli_err("--deployment and --user are required");
        return cli_usage(ui_usage, 0);
    }
    if (!mv_ui_listen_ok(cfg.listen)) {
        cli_err("--listen must be a loopback address 127.x.y.z:PORT (the UI shows decrypted records)");
        return CLI_USAGE;
    }
    mv_err rc = mv_ui_run(&cfg);
    if (rc != MV_OK) {
        cli_err("the UI stopped: %s", mv_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}
