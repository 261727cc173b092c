/* SPDX-License-Identifier: Apache-2.0 */
/* A one-thread HTTP server on 127.0.0.1 for the rollout tests: each connection's request
 * head is read and answered by a canned function, then closed. */
#ifndef MESHLET_TESTS_ROLLOUT_SERVE_H
#define MESHLET_TESTS_ROLLOUT_SERVE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Fills <resp> (<cap> bytes) for the request head <req>; returns its length. */
typedef size_t serve_fn(const char *req, char *resp, size_t cap);

struct serve {
    int fd;
    int port;
    int n; /* connections to serve */
    serve_fn *fn;
    pthread_t t;
    char last[8192]; /* the last request head */
};

static void *
serve_run(void *arg)
{
    struct serve *s = arg;
    for (int i = 0; i < s->n; i++) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) break;
        size_t got = 0;
        while (got + 1 < sizeof(s->last)) {
            ssize_t r = read(c, s->last + got, sizeof(s->last) - 1 - got);
            if (r <= 0) break;
            got += (size_t)r;
            s->last[got] = '\0';
            if (strstr(s->last, "\r\n\r\n")) break;
        }
        s->last[got] = '\0';
        static char resp[1 << 20];
        size_t n = s->fn(s->last, resp, sizeof(resp));
        for (size_t off = 0; off < n;) {
            ssize_t w = write(c, resp + off, n - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
        close(c);
    }
    return NULL;
}

/* Listen on an ephemeral port and serve <n> connections in a thread. */
static inline void
serve_start(struct serve *s, int n, serve_fn *fn)
{
    memset(s, 0, sizeof(*s));
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) || listen(s->fd, 8) ||
        getsockname(s->fd, (struct sockaddr *)&a, &len))
        perror("serve_start");
    s->port = ntohs(a.sin_port);
    s->n = n;
    s->fn = fn;
    pthread_create(&s->t, NULL, serve_run, s);
}

static inline void
serve_stop(struct serve *s)
{
    shutdown(s->fd, SHUT_RDWR);
    pthread_join(s->t, NULL);
    close(s->fd);
}

#endif
