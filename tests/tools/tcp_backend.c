/* SPDX-License-Identifier: Apache-2.0 */
/* A TCP backend for the L4 tests and bench/tcp.sh: one epoll loop per thread
 * (SO_REUSEPORT), plain or TLS with its own certificate (OpenSSL), so a passthrough test
 * can check that the certificate the client sees is the backend's.
 *
 *   tcp-backend --listen 127.0.0.1:PORT [--mode echo|sink|source] [--tag TAG]
 *               [--bytes N] [--tls CERT KEY] [--threads N]
 *
 * echo:   writes "TAG\n" first when --tag is given (a split test tells versions apart
 *         by it), then every byte back; the client's end of stream is passed on
 *         (shutdown of the writing side) once the echo is written.
 * sink:   reads and counts; at the client's end of stream answers "TAG COUNT\n" (or
 *         "COUNT\n") and closes.
 * source: writes "TAG\n" (with --tag), then N bytes of 'x', then ends its side and waits
 *         for the client's end.
 * PORT 0 picks a free port; "listening PORT" is printed on stdout once it listens. Runs
 * until killed. Not part of meshlet. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_BYTES (64 * 1024)

enum mode { ECHO, SINK, SOURCE };

static enum mode mode = ECHO;
static const char *tag;
static uint64_t source_bytes;
static SSL_CTX *tls;
static struct sockaddr_in bind_addr;

struct cn {
    int fd;
    SSL *ssl;
    bool handshaken, rd_eof, wr_shut, answered;
    uint64_t count;  /* sink: bytes read; source: bytes left to write */
    size_t off, len; /* bytes of buf still to write */
    char buf[BUF_BYTES];
};

static void
die(const char *what)
{
    perror(what);
    exit(1);
}

static void
cn_close(int ep, struct cn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) SSL_free(c->ssl);
    close(c->fd);
    free(c);
}

/* Read up to <cap> bytes: >0, 0 at the end of stream, -1 would block, -2 error. With TLS
 * <want_out> says the read waits for the socket to be writable. */
static ssize_t
cn_read(struct cn *c, char *p, size_t cap, bool *want_out)
{
    if (!c->ssl) {
        ssize_t n = read(c->fd, p, cap);
        if (n >= 0) return n;
        return errno == EAGAIN || errno == EINTR ? -1 : -2;
    }
    int n = SSL_read(c->ssl, p, (int)cap);
    if (n > 0) return n;
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ: return -1;
    case SSL_ERROR_WANT_WRITE: *want_out = true; return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    default: ERR_clear_error(); return -2;
    }
}

static ssize_t
cn_write(struct cn *c, const char *p, size_t n, bool *want_out)
{
    if (!c->ssl) {
        ssize_t w = write(c->fd, p, n);
        if (w >= 0) return w;
        if (errno == EAGAIN || errno == EINTR) {
            *want_out = true;
            return -1;
        }
        return -2;
    }
    int w = SSL_write(c->ssl, p, (int)n);
    if (w > 0) return w;
    switch (SSL_get_error(c->ssl, w)) {
    case SSL_ERROR_WANT_WRITE: *want_out = true; return -1;
    case SSL_ERROR_WANT_READ: return -1;
    default: ERR_clear_error(); return -2;
    }
}

static void
cn_shut(struct cn *c)
{
    if (c->wr_shut) return;
    c->wr_shut = true;
    if (c->ssl) SSL_shutdown(c->ssl); /* close_notify; the client's may never come */
    shutdown(c->fd, SHUT_WR);
}

/* Move what can be moved; false when the connection is done (to close). Level-triggered:
 * the interest set says what the connection waits for. */
static bool
cn_pump(int ep, struct cn *c)
{
    bool want_out = false, more = false;
    if (c->ssl && !c->handshaken) {
        int rc = SSL_accept(c->ssl);
        if (rc <= 0) {
            int e = SSL_get_error(c->ssl, rc);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                ERR_clear_error();
                return false;
            }
            struct epoll_event ev = {.events = e == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN,
                                     .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return true;
        }
        c->handshaken = true;
    }
    for (int spins = 0;; spins++) {
        if (spins == 64) { /* bounded: other connections get their turn; called again soon */
            more = true;
            break;
        }
        if (c->len) {
            ssize_t w = cn_write(c, c->buf + c->off, c->len, &want_out);
            if (w == -2) return false;
            if (w < 0) break;
            c->off += (size_t)w;
            c->len -= (size_t)w;
            continue;
        }
        if (mode == SOURCE && c->count) {
            size_t n = c->count < BUF_BYTES ? (size_t)c->count : BUF_BYTES;
            memset(c->buf, 'x', n);
            c->off = 0;
            c->len = n;
            c->count -= n;
            continue;
        }
        if (mode == SOURCE) cn_shut(c); /* all written: wait for the client's end */
        if (c->rd_eof) {
            if (mode == SINK && !c->answered) {
                c->answered = true;
                c->off = 0;
                c->len = (size_t)snprintf(c->buf, BUF_BYTES, "%s%s%llu\n", tag ? tag : "",
                                          tag ? " " : "", (unsigned long long)c->count);
                continue;
            }
            cn_shut(c);
            return false;
        }
        char scratch[4096]; /* source: what the client sends is read and dropped */
        char *p = mode == SOURCE ? scratch : c->buf;
        ssize_t n = cn_read(c, p, mode == SOURCE ? sizeof(scratch) : BUF_BYTES, &want_out);
        if (n == -2) return false;
        if (n < 0) break;
        if (n == 0) {
            c->rd_eof = true;
            continue;
        }
        if (mode == SINK) {
            c->count += (uint64_t)n;
        } else if (mode == ECHO) {
            c->off = 0;
            c->len = (size_t)n;
        }
    }
    uint32_t events = want_out || more || c->len ? EPOLLOUT : 0;
    if (!c->len && !c->rd_eof) events |= EPOLLIN;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    return true;
}

static int
listen_on(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&bind_addr, sizeof(bind_addr))) die("bind");
    if (listen(fd, 4096)) die("listen");
    return fd;
}

static void *
serve(void *arg)
{
    int lfd = (int)(intptr_t)arg, ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct cn *c = evs[i].data.ptr;
            if (!c) {
                for (int k = 0; k < 64; k++) { /* bounded accept burst */
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct cn *nc = calloc(1, sizeof(*nc));
                    if (!nc) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    nc->count = mode == SOURCE ? source_bytes : 0;
                    if (tag && mode != SINK) {
                        nc->len = (size_t)snprintf(nc->buf, BUF_BYTES, "%s\n", tag);
                    }
                    if (tls) {
                        nc->ssl = SSL_new(tls);
                        if (!nc->ssl) {
                            close(fd);
                            free(nc);
                            continue;
                        }
                        SSL_set_fd(nc->ssl, fd);
                    }
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                    if (!cn_pump(ep, nc)) cn_close(ep, nc);
                }
                continue;
            }
            if (evs[i].events & EPOLLERR) {
                cn_close(ep, c);
                continue;
            }
            if (!cn_pump(ep, c)) cn_close(ep, c);
        }
    }
    return NULL;
}

static void
usage(void)
{
    fprintf(stderr, "usage: tcp-backend --listen IP:PORT [--mode echo|sink|source] [--tag TAG]"
                    " [--bytes N] [--tls CERT KEY] [--threads N]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    const char *listen_at = NULL, *cert = NULL, *key = NULL;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--listen") && more) {
            listen_at = argv[++i];
        } else if (!strcmp(a, "--mode") && more) {
            const char *m = argv[++i];
            mode = !strcmp(m, "echo") ? ECHO : !strcmp(m, "sink") ? SINK : SOURCE;
            if (strcmp(m, "echo") && strcmp(m, "sink") && strcmp(m, "source")) usage();
        } else if (!strcmp(a, "--tag") && more) {
            tag = argv[++i];
        } else if (!strcmp(a, "--bytes") && more) {
            source_bytes = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--threads") && more) {
            threads = (int)strtol(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--tls") && i + 2 < argc) {
            cert = argv[++i];
            key = argv[++i];
        } else {
            usage();
        }
    }
    if (!listen_at || threads < 1 || threads > 64) usage();
    const char *colon = strrchr(listen_at, ':');
    if (!colon) usage();
    char ip[64];
    snprintf(ip, sizeof(ip), "%.*s", (int)(colon - listen_at), listen_at);
    bind_addr.sin_family = AF_INET;
    bind_addr.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
    if (inet_pton(AF_INET, ip, &bind_addr.sin_addr) != 1) usage();
    signal(SIGPIPE, SIG_IGN);
    if (cert) {
        tls = SSL_CTX_new(TLS_server_method());
        if (!tls || SSL_CTX_use_certificate_chain_file(tls, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(tls, key, SSL_FILETYPE_PEM) != 1) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
    }
    int first = listen_on();
    if (!bind_addr.sin_port) { /* port 0: the other threads share the port picked */
        socklen_t len = sizeof(bind_addr);
        getsockname(first, (struct sockaddr *)&bind_addr, &len);
    }
    for (int t = 1; t < threads; t++) {
        pthread_t th;
        if (pthread_create(&th, NULL, serve, (void *)(intptr_t)listen_on())) die("thread");
    }
    printf("listening %u\n", (unsigned)ntohs(bind_addr.sin_port));
    fflush(stdout);
    serve((void *)(intptr_t)first);
    return 0;
}
