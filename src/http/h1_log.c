/* SPDX-License-Identifier: Apache-2.0 */
/* The request half of an HTTP/1.1 exchange's access log line: what the request head says
 * (method, path, authority, user agent, request id, forwarded-for), its start time and the
 * client's address as Envoy prints %DOWNSTREAM_REMOTE_ADDRESS% ("IP:port", "[v6]:port").
 * Only called when the access log is on. The line is finished in h1_conn.c's report(). */
#include <arpa/inet.h>
#include <stdio.h>
#include <time.h>

#include "http/h1_int.h"

/* The client's address into <out>: its length, 0 when it does not fit. */
static size_t
peer_address(const struct h1_conn *c, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    h1_conn_peer_ip(c, ip, sizeof(ip));
    int n = snprintf(out, cap, c->peer_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
                     (unsigned)c->peer_port);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

void
h1_log_begin(struct h1_conn *c)
{
    const struct h1_request *q = &c->ex->req;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct access_log_request lq = {
        .start_wall_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
        .method = q->method,
        .path = q->path,
        .authority = q->authority,
    };
    headers_find(&q->head, "user-agent", &lq.user_agent);
    if (!headers_untrusted(c)) headers_find(&q->head, "x-request-id", &lq.request_id);
    headers_find(&q->head, "x-forwarded-for", &lq.forwarded_for);
    char remote[64];
    lq.remote = slice_make(remote, peer_address(c, remote, sizeof(remote)));
    c->ex->log_len = access_log_begin(&c->wk->alog, &lq, c->ex->log_req, sizeof(c->ex->log_req));
}
