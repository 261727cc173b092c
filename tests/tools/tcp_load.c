/* SPDX-License-Identifier: Apache-2.0 */
/* A TCP (and TLS) load client for bench/tcp.sh and the L4 tests: one epoll loop, many
 * connections, bounded in count and time.
 *
 *   tcp-load --to IP:PORT [--mode rate|bulk] [--conns C] [--count N] [--seconds S]
 *            [--msg BYTES] [--expect BYTES] [--tls SNI]
 *
 * rate: C connections at a time, N in all: each connects (TLS: a full handshake with
 *       SNI, no session reuse), writes --msg bytes (default 64), reads --expect bytes
 *       (default: --msg) and closes. Short connections with a small exchange.
 * bulk: the same with nothing written: each connection reads to the end of stream (or
 *       --expect bytes), e.g. from `tcp-backend --mode source`. Bytes moved.
 *
 * Prints one line: "done N errors E bytes B seconds T conn_per_s R mb_per_s M cut C", where
 * C are the connections still open at the deadline (not errors). Exit 1 when nothing at all
 * succeeded. Not part of meshlet. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum st { CONNECTING, HANDSHAKE, WRITING, READING };

struct cn {
    int fd;
    SSL *ssl;
    enum st st;
    size_t wrote;
    uint64_t got;
};

static struct sockaddr_in to;
static SSL_CTX *tls;
static const char *sni;
static bool bulk;
static size_t msg_bytes = 64;
static uint64_t expect_bytes; /* 0: --msg (rate) or the end of stream (bulk) */
static char msg[65536], rbuf[1 << 16];
static uint64_t started, done, errors, bytes;

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct cn *
cn_open(int ep)
{
    struct cn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        free(c);
        return NULL;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    started++;
    if (connect(c->fd, (struct sockaddr *)&to, sizeof(to)) && errno != EINPROGRESS) {
        close(c->fd);
        free(c);
        errors++;
        return NULL;
    }
    c->st = CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    return c;
}

static void
cn_end(int ep, struct cn *c, bool ok)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) SSL_free(c->ssl);
    close(c->fd);
    ok ? done++ : errors++;
    free(c);
}

/* 1: wait for <events> (set), 0: finished well, -1: failed. */
static int
io_result(SSL *ssl, int rc, uint32_t *events)
{
    if (!ssl) {
        if (errno == EAGAIN || errno == EINTR) return 1;
        return -1;
    }
    int e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_WANT_READ) *events = EPOLLIN;
    if (e == SSL_ERROR_WANT_WRITE) *events = EPOLLOUT;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 1;
    ERR_clear_error();
    return -1;
}

/* Advance <c>: 1 while it goes on, 0 done, -1 failed. */
static int
cn_step(int ep, struct cn *c)
{
    uint32_t events = 0;
    for (;;) {
        switch (c->st) {
        case CONNECTING: {
            int err = 0;
            socklen_t len = sizeof(err);
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) return -1;
            if (tls) {
                c->ssl = SSL_new(tls);
                if (!c->ssl) return -1;
                SSL_set_fd(c->ssl, c->fd);
                SSL_set_tlsext_host_name(c->ssl, sni);
                c->st = HANDSHAKE;
            } else {
                c->st = bulk ? READING : WRITING;
            }
            continue;
        }
        case HANDSHAKE: {
            int rc = SSL_connect(c->ssl);
            if (rc == 1) {
                c->st = bulk ? READING : WRITING;
                continue;
            }
            events = EPOLLIN;
            int r = io_result(c->ssl, rc, &events);
            if (r < 0) return -1;
            goto wait;
        }
        case WRITING: {
            size_t left = msg_bytes - c->wrote;
            ssize_t n = c->ssl ? SSL_write(c->ssl, msg + c->wrote, (int)left)
                               : write(c->fd, msg + c->wrote, left);
            if (n > 0) {
                c->wrote += (size_t)n;
                bytes += (uint64_t)n;
                if (c->wrote == msg_bytes) c->st = READING;
                continue;
            }
            events = EPOLLOUT;
            if (io_result(c->ssl, (int)n, &events) < 0) return -1;
            goto wait;
        }
        case READING: {
            uint64_t want = expect_bytes ? expect_bytes : bulk ? 0 : msg_bytes;
            if (want && c->got >= want) return 0;
            ssize_t n =
                c->ssl ? SSL_read(c->ssl, rbuf, sizeof(rbuf)) : read(c->fd, rbuf, sizeof(rbuf));
            if (n > 0) {
                c->got += (uint64_t)n;
                bytes += (uint64_t)n;
                continue;
            }
            if (n == 0 || (c->ssl && SSL_get_error(c->ssl, (int)n) == SSL_ERROR_ZERO_RETURN))
                return want ? -1 : 0; /* the end of stream: the goal in bulk without --expect */
            events = EPOLLIN;
            if (io_result(c->ssl, (int)n, &events) < 0) return -1;
            goto wait;
        }
        }
    }
wait:;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    return 1;
}

static void
usage(void)
{
    fprintf(stderr, "usage: tcp-load --to IP:PORT [--mode rate|bulk] [--conns C] [--count N]"
                    " [--seconds S] [--msg BYTES] [--expect BYTES] [--tls SNI]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    const char *target = NULL;
    uint64_t conns = 16, count = 10000;
    double seconds = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        i++;
        if (!strcmp(a, "--to"))
            target = v;
        else if (!strcmp(a, "--mode") && (!strcmp(v, "rate") || !strcmp(v, "bulk")))
            bulk = !strcmp(v, "bulk");
        else if (!strcmp(a, "--conns"))
            conns = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--count"))
            count = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--seconds"))
            seconds = strtod(v, NULL);
        else if (!strcmp(a, "--msg"))
            msg_bytes = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--expect"))
            expect_bytes = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--tls"))
            sni = v;
        else
            usage();
    }
    const char *colon = target ? strrchr(target, ':') : NULL;
    if (!colon || !conns || conns > 10000 || msg_bytes > sizeof(msg) || seconds <= 0) usage();
    char ip[64];
    snprintf(ip, sizeof(ip), "%.*s", (int)(colon - target), target);
    to.sin_family = AF_INET;
    to.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
    if (inet_pton(AF_INET, ip, &to.sin_addr) != 1) usage();
    memset(msg, 'm', sizeof(msg));
    signal(SIGPIPE, SIG_IGN);
    if (sni) {
        tls = SSL_CTX_new(TLS_client_method());
        if (!tls) return 1;
        SSL_CTX_set_verify(tls, SSL_VERIFY_NONE, NULL); /* a load, not a check */
        SSL_CTX_set_session_cache_mode(tls, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(tls, SSL_OP_NO_TICKET);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return 1;
    double t0 = now_s(), deadline = t0 + seconds;
    uint64_t open = 0;
    struct epoll_event evs[256];
    while (now_s() < deadline) {
        while (open < conns && started < count) {
            struct cn *c = cn_open(ep);
            if (!c) break;
            open++;
        }
        if (!open) break;
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            struct cn *c = evs[i].data.ptr;
            int r = cn_step(ep, c);
            if (r <= 0) {
                cn_end(ep, c, r == 0);
                open--;
            }
        }
    }
    double t = now_s() - t0;
    printf("done %llu errors %llu bytes %llu seconds %.3f conn_per_s %.0f mb_per_s %.1f cut %llu\n",
           (unsigned long long)done, (unsigned long long)errors, (unsigned long long)bytes, t,
           (double)done / t, (double)bytes / t / 1e6, (unsigned long long)open);
    /* Now: the connections cut at the deadline are not freed, and an ASan build's leak
     * check ends the process at exit before stdio would flush a pipe. */
    fflush(stdout);
    return done ? 0 : 1;
}
