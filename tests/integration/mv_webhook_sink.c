/* mv_webhook_sink.c - test helper: a webhook receiver for the hospital's alerts.
 *
 * Listens on 127.0.0.1:PORT (0 = any free port), writes the bound port to PORT_FILE, and
 * appends the body of every POST as one line to OUT_FILE (answering 200 {}); other methods
 * get 405. Stops on SIGTERM or SIGINT.
 * usage: mv_webhook_sink PORT_FILE OUT_FILE [PORT] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_daemon.h"
#include "medvault/mv_http.h"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void handler(void *ctx, const mv_http_request *req, mv_http_response *resp)
{
    const char *out = ctx;
    if (strcmp(req->method, "POST") != 0) {
        mv_http_respond_json_error(resp, 405, "POST only");
        return;
    }
    pthread_mutex_lock(&out_lock);
    FILE *f = fopen(out, "a");
    int ok = f != NULL;
    if (f) {
        /* One line per POST: a newline inside a body would break that, so it becomes a space. */
        for (size_t i = 0; i < req->body_len; i++)
            fputc(req->body[i] == '\n' || req->body[i] == '\r' ? ' ' : req->body[i], f);
        fputc('\n', f);
        ok = fclose(f) == 0;
    }
    pthread_mutex_unlock(&out_lock);
    if (ok)
        mv_http_respond_fmt(resp, 200, "{}");
    else
        mv_http_respond_json_error(resp, 500, "cannot write the output file");
}

int main(int argc, char **argv)
{
    char listen[32];
    mv_http_server *s = NULL;
    if (argc < 3 || argc > 4)
        return 2;
    snprintf(listen, sizeof listen, "127.0.0.1:%s", argc == 4 ? argv[3] : "0");
    mv_daemon_block_signals();
    mv_http_config hc = {.listen = listen, .max_body = 1 << 16, .threads = 2, .handler = handler, .ctx = argv[2]};
    if (mv_http_server_start(&hc, &s) != MV_OK) {
        fprintf(stderr, "mv_webhook_sink: cannot listen on %s\n", listen);
        return 1;
    }
    if (mv_daemon_write_port(argv[1], mv_http_server_port(s)) != 0) {
        mv_http_server_stop(s);
        return 1;
    }
    mv_daemon_wait(1.0, NULL, NULL);
    mv_http_server_stop(s);
    return 0;
}
