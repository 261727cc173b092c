/* SPDX-License-Identifier: Apache-2.0 */
/* Bytes relayed both ways between a client connection and an upstream connection, once a
 * TCP or TLS route picked the upstream (tcp_conn.c) or an HTTP upgrade was answered 101
 * (WebSocket). Each direction has one bounded buffer: a full one stops reading its source,
 * so a fast sender to a slow receiver never grows memory. A half-close is passed on once
 * what came before it is written; the tunnel ends when both directions are shut, on a
 * reset or error of either side (the other is then closed too), or on a timeout. [W] */
#ifndef MESHLET_HTTP_TUNNEL_H
#define MESHLET_HTTP_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/wheel.h"

struct worker;
struct conn;
struct upstream;

/* Why a tunnel ended. */
enum tunnel_end {
    TUNNEL_DONE,         /* both sides shut their sending side: a clean end */
    TUNNEL_DOWN_RESET,   /* the client reset or broke the connection */
    TUNNEL_UP_RESET,     /* the upstream did */
    TUNNEL_IDLE_TIMEOUT, /* no byte either way for idle_timeout_ms (Envoy's idle_timeout) */
    TUNNEL_MAX_DURATION, /* max_duration_ms passed (maxConnectionDuration) */
    TUNNEL_NO_MEMORY,
};

struct tunnel;
/* The owner is told once, from inside the tunnel's event handling; it must not touch the
 * upstream afterwards (the tunnel closed it) and closes the client connection itself. */
typedef void tunnel_end_cb(struct tunnel *t, enum tunnel_end why);
/* Bytes moved (the directions' counts grew): the owner may report them. */
typedef void tunnel_moved_cb(struct tunnel *t);
/* A side's first bytes were Istio's TCP metadata exchange (http/peer_metadata.h): its
 * payload (NULL: none could be read; bytes that were not one go on as they are). */
typedef void tunnel_prefix_cb(struct tunnel *t, const unsigned char *payload, size_t n);

struct tunnel_limits {
    uint64_t idle_timeout_ms; /* 0: none */
    uint64_t max_duration_ms; /* 0: none */
};

/* One direction: bytes read from <from> wait in <buf> until written to the other side. */
struct tunnel_dir {
    struct buf buf;
    bool ready;     /* the source may have bytes (edge seen, not drained) */
    bool hup;       /* LOOP_RDHUP seen on the source: read on to the end of stream */
    bool eof;       /* the source sent its end of stream */
    bool shut;      /* the end of stream was passed on to the destination */
    uint64_t bytes; /* moved so far */
    /* Plain text on both sides: the bytes go through a pipe with splice(2), never through
     * user space; the pipe is taken from the worker's spares while it holds bytes. */
    int pipe[2];       /* -1: none */
    size_t pipe_bytes; /* in the pipe */
    /* A read filled the buffer: splice from then on (HAProxy's splice-auto); a short
     * exchange stays on read and write, which take fewer calls. */
    bool bulk;
    /* Set after tunnel_start, before anything came from the source: its first bytes are
     * Istio's exchange, handed here and neither passed on nor counted; nothing after it
     * goes on before it is whole. NULL once it came. */
    tunnel_prefix_cb *prefix;
    uint64_t skip; /* bytes of an exchange too long to read, still to drop */
};

struct tunnel {
    struct worker *wk;   /* borrowed */
    struct conn *down;   /* borrowed: the client connection (fd, transport) */
    struct upstream *up; /* owned from tunnel_start: closed when the tunnel ends */
    struct tunnel_dir to_up, to_down;
    struct tunnel_limits lim;
    tunnel_end_cb *end;
    tunnel_moved_cb *moved; /* NULL: none; set after tunnel_start */
    struct wheel_timer timer;
    uint64_t started_ms, active_ms;
    bool ended;
    bool splice;  /* both sides plain text */
    bool in_pump; /* guards against re-entry from an event raised while pumping */
};

/* Start relaying between <down> and connected upstream <up> (its ops switch to the tunnel's:
 * the request or pool that had it lets it go first). Bytes already read from either side
 * and not yet passed on are given with tunnel_preload before the first event. 0, or -1
 * when out of memory (nothing taken: the caller closes both). */
int tunnel_start(struct tunnel *t, struct worker *wk, struct conn *down, struct upstream *up,
                 const struct tunnel_limits *lim, tunnel_end_cb *end);

/* Bytes that arrived before the tunnel started, to send on: towards the upstream (<to_up>)
 * or towards the client. 0, or -1 when they do not fit (64 KiB). */
int tunnel_preload(struct tunnel *t, bool to_up, const void *p, size_t n);

/* The client socket's events (LOOP_* bits), forwarded by its codec's watch; also call it
 * with 0 to move what can be moved now (after tunnel_preload). */
void tunnel_down_event(struct tunnel *t, unsigned events);

/* End the tunnel now (reload drain, worker exit): the upstream is closed, <end> is not
 * called. */
void tunnel_close(struct tunnel *t);

#endif
