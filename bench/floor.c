/* SPDX-License-Identifier: Apache-2.0 */
/* The floor of the request-path benchmark: the least an epoll proxy can do for the same
 * 90/10 split, measured in the same rounds as meshlet, HAProxy and nginx. One thread,
 * edge-triggered epoll, the same raw recvfrom/sendto/epoll_wait syscalls as meshlet; each
 * client connection owns one keep-alive connection to each backend; a whole request head
 * goes to the backend a smooth weighted round robin picks, a response goes back once its
 * Content-Length bytes are in. No parsing beyond that, no header added, no validation,
 * no request body, no pipelining: what is left is the kernel's share of proxying plus
 * the wakeups a split costs. Not meshlet, and not fit for anything but this measurement.
 *
 * usage: floor LISTEN_PORT V1_PORT V2_PORT (all on 127.0.0.1; weights 90 and 10) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_HEAD 16384
#define MAX_RESP 65536

struct pair;

/* What an epoll event points at: a pair's client side (up < 0) or one of its upstreams. */
struct end {
    struct pair *p;
    int fd;
    int up;
};

struct pair {
    struct end client, ups[2];
    struct pair *next_dead; /* freed after the batch of events that may still name it */
    int dead;
    int busy; /* the upstream answering the request in flight, or -1 */
    size_t req_len, resp_len;
    long resp_need; /* bytes of the whole response once its head is in, or -1 */
    char req[MAX_HEAD];
    char resp[MAX_RESP];
};

static int epfd;
static struct sockaddr_in backends[2];
static const int weights[2] = {90, 10};
static int current[2];
static struct pair *dead;

static long
xrecv(int fd, void *p, size_t n)
{
    return syscall(SYS_recvfrom, fd, p, n, 0, NULL, NULL);
}

static long
xsend(int fd, const void *p, size_t n)
{
    return syscall(SYS_sendto, fd, p, n, MSG_NOSIGNAL, NULL, 0);
}

/* Smooth weighted round robin (nginx's): the same sequence meshlet's split gives. */
static int
pick(void)
{
    int total = weights[0] + weights[1];
    current[0] += weights[0];
    current[1] += weights[1];
    int best = current[0] >= current[1] ? 0 : 1;
    current[best] -= total;
    return best;
}

static void
drop(struct pair *p)
{
    close(p->client.fd);
    if (p->ups[0].fd >= 0) close(p->ups[0].fd);
    if (p->ups[1].fd >= 0) close(p->ups[1].fd);
    p->dead = 1;
    p->next_dead = dead;
    dead = p;
}

static int
watch(struct end *e)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = e};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, e->fd, &ev);
}

/* Forward the request head in the buffer, if it is whole and nothing is in flight. */
static int
forward_request(struct pair *p)
{
    if (p->busy >= 0) return 0;
    char *end = memmem(p->req, p->req_len, "\r\n\r\n", 4);
    if (!end) return p->req_len == sizeof(p->req) ? -1 : 0;
    size_t n = (size_t)(end + 4 - p->req);
    p->busy = pick();
    if (xsend(p->ups[p->busy].fd, p->req, n) != (long)n) return -1;
    memmove(p->req, p->req + n, p->req_len - n);
    p->req_len -= n;
    return 0;
}

/* Send the response back once it is whole. */
static int
forward_response(struct pair *p)
{
    if (p->resp_need < 0) {
        char *end = memmem(p->resp, p->resp_len, "\r\n\r\n", 4);
        if (!end) return p->resp_len == sizeof(p->resp) ? -1 : 0;
        *end = '\0';
        char *cl = strcasestr(p->resp, "\ncontent-length:");
        *end = '\r';
        long body = cl ? strtol(cl + 16, NULL, 10) : 0;
        p->resp_need = (long)(end + 4 - p->resp) + body;
        if (p->resp_need > (long)sizeof(p->resp)) return -1;
    }
    if ((long)p->resp_len < p->resp_need) return 0;
    size_t n = (size_t)p->resp_need;
    if (xsend(p->client.fd, p->resp, n) != (long)n) return -1;
    memmove(p->resp, p->resp + n, p->resp_len - n);
    p->resp_len -= n;
    p->resp_need = -1;
    p->busy = -1;
    return forward_request(p);
}

static void
on_event(struct end *e)
{
    struct pair *p = e->p;
    while (!p->dead) {
        char *buf = e->up < 0 ? p->req + p->req_len : p->resp + p->resp_len;
        size_t room = e->up < 0 ? sizeof(p->req) - p->req_len : sizeof(p->resp) - p->resp_len;
        long n = xrecv(e->fd, buf, room);
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            drop(p);
            return;
        }
        int rc;
        if (e->up < 0) {
            p->req_len += (size_t)n;
            rc = forward_request(p);
        } else {
            p->resp_len += (size_t)n;
            rc = e->up == p->busy ? forward_response(p) : -1;
        }
        if (rc) {
            drop(p);
            return;
        }
        if ((size_t)n < room) return; /* drained: edge-triggered epoll says when more comes */
    }
}

static int
connect_backend(const struct sockaddr_in *a)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
        close(fd);
        return -1;
    }
    /* connected while blocking (instant on loopback), then non-blocking like the rest */
    if (fcntl(fd, F_SETFL, O_NONBLOCK)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void
accept_all(int lfd)
{
    int one = 1;
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) return;
        struct pair *p = calloc(1, sizeof(*p));
        if (!p) {
            close(c);
            continue;
        }
        p->busy = -1;
        p->resp_need = -1;
        p->client = (struct end){p, c, -1};
        for (int i = 0; i < 2; i++) p->ups[i] = (struct end){p, connect_backend(&backends[i]), i};
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (p->ups[0].fd < 0 || p->ups[1].fd < 0) {
            fprintf(stderr, "floor: cannot connect to a backend\n");
            drop(p);
            continue;
        }
        if (watch(&p->client) || watch(&p->ups[0]) || watch(&p->ups[1])) drop(p);
    }
}

int
main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: floor LISTEN_PORT V1_PORT V2_PORT\n");
        return 2;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < 2; i++) {
        backends[i] = a;
        backends[i].sin_port = htons((uint16_t)atoi(argv[2 + i]));
    }
    a.sin_port = htons((uint16_t)atoi(argv[1]));
    int one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (lfd < 0 || epfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1024)) {
        perror("floor");
        return 1;
    }
    struct end listener = {NULL, lfd, -1};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listener};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev)) {
        perror("floor");
        return 1;
    }
    struct epoll_event evs[256];
    for (;;) {
        int n = (int)syscall(SYS_epoll_wait, epfd, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct end *e = evs[i].data.ptr;
            if (e == &listener)
                accept_all(lfd);
            else
                on_event(e);
        }
        while (dead) {
            struct pair *p = dead;
            dead = p->next_dead;
            free(p);
        }
    }
}
