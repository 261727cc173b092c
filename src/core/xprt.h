/* SPDX-License-Identifier: Apache-2.0 */
/* A byte transport under a codec: a plain socket (sock.c) or TLS (tls/conn.c). A codec reads
 * and writes through one without knowing which; <t> is the transport's own state (NULL for
 * a plain socket). */
#ifndef MESHLET_CORE_XPRT_H
#define MESHLET_CORE_XPRT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct xprt_ops {
    /* Up to <n> bytes: how many (> 0), 0 at the end of stream, -EAGAIN, or -errno. */
    ssize_t (*read)(void *t, int fd, void *buf, size_t n);
    /* Up to <n> bytes: how many were taken, -EAGAIN, or -errno. */
    ssize_t (*write)(void *t, int fd, const void *buf, size_t n);
    /* No more writes: the peer sees the end of stream (after TLS's close_notify). */
    int (*shutdown)(void *t, int fd);
    /* A read returns one record at most: a short read does not say the socket is drained
     * (only -EAGAIN does). */
    bool record_reads;
};

/* sock.c: plain TCP. */
extern const struct xprt_ops sock_xprt;

#endif
