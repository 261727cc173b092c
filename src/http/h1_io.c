/* SPDX-License-Identifier: Apache-2.0 */
/* One edge-triggered read or write on a client or upstream socket, plain or through TLS,
 * for the HTTP/1.1 proxy (h1_conn.c, shadow.c). What to read or write, and when, is
 * theirs. [W] */
#include <errno.h>

#include "http/h1_int.h"

int
h1_read_some(struct buf *b, int fd, const struct xprt_ops *x, void *t, bool hup, bool *ready,
             bool *eof)
{
    if (b->cap - b->wr < 4096 && buf_reserve(b, 4096)) return 0; /* full: read later */
    size_t room = b->cap - b->wr;
    ssize_t n = x->read(t, fd, b->data + b->wr, room);
    if (n > 0) {
        b->wr += (size_t)n;
        /* A short read drains a plain socket, unless its FIN is still to be read; a TLS
         * read returns one record: only -EAGAIN says drained. */
        if (!x->record_reads && (size_t)n < room && !hup) *ready = false;
        return 1;
    }
    if (n == 0) {
        *eof = true;
        *ready = false;
        return 1;
    }
    if (n == -EAGAIN) *ready = false;
    return n == -EAGAIN ? 0 : -1;
}

ssize_t
h1_write_some(struct buf *b, int fd, const struct xprt_ops *x, void *t)
{
    ssize_t n = x->write(t, fd, buf_head(b), buf_len(b));
    if (n > 0) buf_consume(b, (size_t)n);
    return n;
}
