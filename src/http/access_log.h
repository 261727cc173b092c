/* SPDX-License-Identifier: Apache-2.0 */
/* The access log: one line per request at its end, JSON (Istio's field names) or Envoy's
 * default text format. A worker formats lines into its own buffer; full buffers (and every
 * buffer once a second) go to a writer thread, so a slow disk never blocks a worker: past
 * ACCESS_LOG_QUEUE buffers waiting, lines are dropped and counted instead. [W] to log,
 * [M] to open and close. */
#ifndef MESHLET_HTTP_ACCESS_LOG_H
#define MESHLET_HTTP_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "core/slice.h"
#include "http/metrics.h"

#define ACCESS_LOG_BUF (64 * 1024)
#define ACCESS_LOG_QUEUE 64

enum access_log_format { ACCESS_LOG_JSON, ACCESS_LOG_TEXT };

/* The sink: a file (appended) or standard output, and its writer thread. */
struct access_log;

/* Open <path> ("-": standard output). NULL with the reason in <err>. [M] */
struct access_log *access_log_open(const char *path, enum access_log_format fmt, char *err,
                                   size_t err_len);
/* Write what is queued, stop the thread, close. [M] */
void access_log_close(struct access_log *log);
/* Open the file again before the next write (SIGUSR1, after a log rotation); standard
 * output stays. [M] */
void access_log_reopen(struct access_log *log);
/* Lines dropped because the writer fell behind. [A] */
uint64_t access_log_dropped(const struct access_log *log);

/* A worker's buffer. */
struct access_log_buf {
    struct access_log *log; /* NULL: logging off */
    char *data;             /* ACCESS_LOG_BUF bytes, or NULL until the first line */
    size_t len;
};

/* The request half of a line, captured while the request head is still in the buffer. */
struct access_log_request {
    uint64_t start_wall_ms; /* Unix time */
    struct slice method, path, authority, user_agent, request_id, forwarded_for;
    struct slice remote;   /* the client's address, "IP:port" ("[v6]:port") */
    struct slice protocol; /* "HTTP/1.1", "HTTP/1.0", "HTTP/2" (Envoy's %PROTOCOL%) */
};

/* What the line reports besides the request and the exchange record. */
struct access_log_end {
    const char *request_id; /* generated when the client sent none; NULL: none */
    const char *route_name; /* "" or NULL: none */
    uint32_t attempts;      /* upstream tries */
    int64_t upstream_ms;    /* x-envoy-upstream-service-time; -1: none */
};

/* Capture the request half into <line> (a buffer of <cap> bytes owned by the exchange):
 * the escaped fields are kept there until the end. Returns the bytes used. */
size_t access_log_begin(const struct access_log_buf *b, const struct access_log_request *q,
                        char *line, size_t cap);

/* Finish and queue the line begun in <line> (<len> bytes). [W] */
void access_log_finish(struct access_log_buf *b, const char *line, size_t len,
                       const struct exchange_record *r, const struct access_log_end *e);

/* A TCP connection's line (TCP and TLS-passthrough listeners), written when it closes. The
 * same fields as a request's, as Envoy fills them for a connection: method, path and
 * protocol "-", response code 0; then the client's local address (the listener's) and the
 * TLS server name (Envoy's %DOWNSTREAM_LOCAL_ADDRESS% and %REQUESTED_SERVER_NAME%) at the
 * end of the text line, downstream_local_address and requested_server_name in JSON.
 * An HTTP upgrade (WebSocket) is not logged here: Envoy logs it as its request, once, at
 * the tunnel's end, with code 101 and the bytes of the whole connection
 * (access_log_finish). */
struct tcp_log_entry {
    uint64_t start_wall_ms;                /* Unix time of the accept */
    uint64_t duration_us;                  /* accept to close */
    const struct model_cluster *cluster;   /* the pool; NULL: none chosen */
    size_t endpoint;                       /* the endpoint connected (or last tried); SIZE_MAX */
    uint32_t flags;                        /* enum response_flag at the end */
    uint64_t bytes_received;               /* from the client */
    uint64_t bytes_sent;                   /* to the client */
    const struct sockaddr_storage *local;  /* where the client connected; NULL: unknown */
    const struct sockaddr_storage *remote; /* the client; NULL: unknown */
    const char *sni;                       /* the ClientHello's server name; NULL or "": none */
    const char *route_name;                /* NULL or "": none */
    uint32_t attempts;                     /* connect tries (0: none) */
};

/* Format and queue a TCP connection's line; nothing when logging is off. [W] */
void access_log_tcp(struct access_log_buf *b, const struct tcp_log_entry *e);

/* Hand the buffer to the writer now (on a timer and at exit). [W] */
void access_log_flush(struct access_log_buf *b);

#endif
