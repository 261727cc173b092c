/* SPDX-License-Identifier: Apache-2.0 */
/* The request half of a request's access log line: what the request head says
 * (method, path, authority, user agent, request id, forwarded-for), its start time and the
 * client's address as Envoy prints %DOWNSTREAM_REMOTE_ADDRESS% ("IP:port", "[v6]:port").
 * Only called when the access log is on. The line is finished in req.c's report(). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/conn.h"
#include "http/headers.h"
#include "http/req.h"

/* The client's address into <out>: its length, 0 when it does not fit. */
static size_t
peer_address(const struct conn *c, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    conn_peer_ip(c, ip, sizeof(ip));
    int n = snprintf(out, cap, c->peer_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
                     (unsigned)c->peer_port);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

void
req_log_begin(struct req *q, const struct req_head *h)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct access_log_request lq = {
        .start_wall_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
        .method = h->method,
        .path = h->path,
        .authority = h->authority,
        .protocol = h->protocol ? slice_make(h->protocol, strlen(h->protocol)) : SLICE_LIT("-"),
    };
    headers_find(h->fields, h->n_fields, "user-agent", &lq.user_agent);
    if (!headers_untrusted(q->conn))
        headers_find(h->fields, h->n_fields, "x-request-id", &lq.request_id);
    headers_find(h->fields, h->n_fields, "x-forwarded-for", &lq.forwarded_for);
    char remote[64];
    lq.remote = slice_make(remote, peer_address(q->conn, remote, sizeof(remote)));
    enum { LOG_REQ_BYTES = 2048 };
    char *line = req_alloc(q, LOG_REQ_BYTES);
    if (!line) return;
    q->log_req = line;
    q->log_len = access_log_begin(&q->conn->wk->alog, &lq, line, LOG_REQ_BYTES);
}
