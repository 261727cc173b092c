/* SPDX-License-Identifier: Apache-2.0 */
/* Socket helpers: every socket is non-blocking and close-on-exec from birth. */
#include "core/sock.h"
#include "core/sys.h"
#include "core/xprt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
sock_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    const char *colon = strrchr(text, ':');
    if (!colon) return -EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1) return -EINVAL;
    char host[128];
    size_t hl = (size_t)(colon - text);
    if (hl >= sizeof(host)) return -EINVAL;
    memcpy(host, text, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) != 1) return -EINVAL;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*v6);
        return 0;
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *len = sizeof(*v4);
    if (hl == 0) {
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        return 0;
    }
    if (!strcmp(host, "localhost")) memcpy(host, "127.0.0.1", sizeof("127.0.0.1"));
    return inet_pton(AF_INET, host, &v4->sin_addr) == 1 ? 0 : -EINVAL;
}

int
sock_listen(const struct sockaddr *addr, socklen_t len, int backlog)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) || bind(fd, addr, len) ||
        listen(fd, backlog)) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

int
sock_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peer_len)
{
    *peer_len = sizeof(*peer);
    int fd = accept4(lfd, (struct sockaddr *)peer, peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int
sock_connect(const struct sockaddr *addr, socklen_t len)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, addr, len) && errno != EINPROGRESS) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

int
sock_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)) return -errno;
    return -err;
}

int
sock_keepalive(int fd, unsigned idle_s, unsigned interval_s, unsigned probes)
{
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on))) return -errno;
    int v[3] = {(int)idle_s, (int)interval_s, (int)probes};
    int opt[3] = {TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT};
    for (int i = 0; i < 3; i++)
        if (v[i] > 0 && setsockopt(fd, IPPROTO_TCP, opt[i], &v[i], sizeof(v[i]))) return -errno;
    return 0;
}

static ssize_t
plain_read(void *t, int fd, void *buf, size_t n)
{
    (void)t;
    ssize_t r = sys_recv(fd, buf, n);
    return r < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : r;
}

static ssize_t
plain_write(void *t, int fd, const void *buf, size_t n)
{
    (void)t;
    ssize_t r = sys_send(fd, buf, n, MSG_NOSIGNAL);
    return r < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : r;
}

static int
plain_shutdown(void *t, int fd)
{
    (void)t;
    return shutdown(fd, SHUT_WR) ? -errno : 0;
}

const struct xprt_ops sock_xprt = {
    .read = plain_read,
    .write = plain_write,
    .shutdown = plain_shutdown,
};

bool
sock_parse_ip(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}
