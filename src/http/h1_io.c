/* SPDX-License-Identifier: Apache-2.0 */
/* One edge-triggered read or write on a client or upstream socket, plain or through TLS,
 * for the HTTP/1.1 proxy (h1_conn.c, shadow.c). What to read or write, and when, is
 * theirs. [W] */
#include <errno.h>

#include "http/h1_int.h"
#include "tls/conn.h"

int
h1_read_some(struct buf *b, int fd, struct tls_conn *tls, bool hup, bool *ready, bool *eof)
{
    if (tls) {
        if (b->cap - b->wr < 4096 && buf_reserve(b, 4096)) return 0; /* full: read later */
        /* A TLS read returns one record at most: the socket is drained only at -EAGAIN. */
        ssize_t n = tls_conn_read(tls, b->data + b->wr, b->cap - b->wr);
        if (n > 0) {
            b->wr += (size_t)n;
            return 1;
        }
        *ready = false;
        if (n == 0) *eof = true;
        return n == 0 ? 1 : n == -EAGAIN ? 0 : -1;
    }
    size_t room = b->cap - b->wr;
    ssize_t n = buf_read_fd(b, fd);
    if (n > 0) {
        if ((size_t)n < room && !hup) *ready = false;
        return 1;
    }
    if (n == 0) {
        *eof = true;
        *ready = false;
        return 1;
    }
    if (n == -EAGAIN) *ready = false;
    return n == -EAGAIN || n == -ENOBUFS ? 0 : -1;
}

ssize_t
h1_write_some(struct buf *b, int fd, struct tls_conn *tls)
{
    if (!tls) return buf_write_fd(b, fd);
    ssize_t n = tls_conn_write(tls, buf_head(b), buf_len(b));
    if (n > 0) buf_consume(b, (size_t)n);
    return n;
}
