/* cmd_fhir.c - `medvault fhir`: the user's records through FHIR's REST API (docs/fhir-server.md). */
#include <stdlib.h>

#include "cli.h"
#include "medvault/mv_fhir_server.h"
#include "medvault/mv_ui.h"

static const char serve_usage[] =
    "usage: medvault fhir serve [--deployment F] [--user DIR] [--listen 127.0.0.1:PORT] [--port-file F]\n"
    "                           [--token-file F]\n\n"
    "Serves your records as a FHIR R4 REST server on this computer (records are decrypted here,\n"
    "never anywhere else): GET /metadata, read, vread, create, update (If-Match), history and\n"
    "search with paging, application/fhir+json. Every request needs the header\n"
    "  Authorization: Bearer TOKEN\n"
    "with the token made at start (it works while this process runs; keep it private). It prints\n"
    "  medvault fhir: serving http://127.0.0.1:PORT token TOKEN\n"
    "or, with --token-file, writes the token there (mode 0600) and prints the file's name instead.\n"
    "SIGINT or SIGTERM stops it.\n" CLI_COMMON_HELP
    "  --listen A:P     a loopback address 127.x.y.z and port (default 127.0.0.1:0, any free port)\n"
    "  --port-file F    write the port there once listening\n"
    "  --token-file F   write the bearer token there (0600) instead of printing it\n";

static int fhir_serve(int argc, char **argv)
{
    mv_fhir_server_config cfg = {.deployment_path = getenv("MEDVAULT_DEPLOYMENT"),
                                 .user_dir = getenv("MEDVAULT_USER"),
                                 .listen = "127.0.0.1:0"};
    const cli_opt opts[] = {
        {"deployment", &cfg.deployment_path, NULL, 0},
        {"user", &cfg.user_dir, NULL, 0},
        {"listen", &cfg.listen, NULL, 0},
        {"port-file", &cfg.port_file, NULL, 0},
        {"token-file", &cfg.token_file, NULL, 0},
        CLI_OPT_HELP,
        {NULL, NULL, NULL, 0},
    };
    int done = cli_parse(argc, argv, opts, serve_usage);
    if (done >= 0)
        return done;
    if (!cfg.deployment_path || !cfg.user_dir) {
        cli_err("--deployment and --user are required (or MEDVAULT_DEPLOYMENT and MEDVAULT_USER)");
        return cli_usage(serve_usage, 0);
    }
    if (!mv_ui_listen_ok(cfg.listen)) {
        cli_err("--listen must be a loopback address 127.x.y.z:PORT (the server shows decrypted records)");
        return CLI_USAGE;
    }
    mv_err rc = mv_fhir_server_run(&cfg);
    if (rc != MV_OK) {
        cli_err("the FHIR server stopped: %s", mv_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cmd_fhir(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"serve", fhir_serve, "a FHIR R4 REST server on loopback over your records"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault fhir", table, argc, argv);
}
