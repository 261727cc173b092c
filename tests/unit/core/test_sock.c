/* SPDX-License-Identifier: Apache-2.0 */
/* Sockets on 127.0.0.1 with ephemeral ports: address parsing (v4, [v6], ":port",
 * localhost; refusals), listen/connect/accept non-blocking and close-on-exec, a refused
 * connect reported by sock_error, and the plain transport ops: -EAGAIN, data, half-close
 * read as end of stream, and -EPIPE (no SIGPIPE) writing to a closed peer. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "core/sock.h"
#include "core/xprt.h"
#include "harness.h"

static void
test_sock_parses_addresses(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    assert_int_equal(sock_parse_addr("127.0.0.1:15001", &ss, &len), 0);
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&ss;
    assert_int_equal(v4->sin_family, AF_INET);
    assert_int_equal(ntohs(v4->sin_port), 15001);
    assert_int_equal(ntohl(v4->sin_addr.s_addr), 0x7f000001);
    assert_int_equal(len, sizeof(*v4));
    assert_int_equal(sock_parse_addr(":8080", &ss, &len), 0); /* every address */
    assert_int_equal(v4->sin_addr.s_addr, htonl(INADDR_ANY));
    assert_int_equal(sock_parse_addr("localhost:1", &ss, &len), 0);
    assert_int_equal(ntohl(v4->sin_addr.s_addr), 0x7f000001);
    assert_int_equal(sock_parse_addr("[::1]:443", &ss, &len), 0);
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&ss;
    assert_int_equal(v6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(v6->sin6_port), 443);
    assert_int_equal(len, sizeof(*v6));
    static const char *const bad[] = {"127.0.0.1",    "127.0.0.1:",   "127.0.0.1:65536",
                                      "127.0.0.1:-1", "127.0.0.1:8x", "[::1:80",
                                      "::1:80",       "[zz]:80",      "example.com:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sock_parse_addr(bad[i], &ss, &len) != -EINVAL) fail_msg("accepted %s", bad[i]);
}

/* A listener on 127.0.0.1 and its port. */
static int
listen_local(uint16_t *port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(sock_parse_addr("127.0.0.1:0", &ss, &len), 0);
    int lfd = sock_listen((struct sockaddr *)&ss, len, 16);
    assert_true(lfd >= 0);
    struct sockaddr_in bound;
    socklen_t blen = sizeof(bound);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&bound, &blen), 0);
    *port = ntohs(bound.sin_port);
    return lfd;
}

static void
wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    assert_int_equal(poll(&p, 1, 5000), 1); /* a bound, not a timing assertion */
}

static void
test_sock_connects_accepts_and_moves_bytes(void **state)
{
    (void)state;
    uint16_t port;
    int lfd = listen_local(&port);
    assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
    struct sockaddr_storage peer;
    socklen_t peer_len;
    assert_int_equal(sock_accept(lfd, &peer, &peer_len), -EAGAIN); /* nobody yet */
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    to.sin_addr.s_addr = htonl(0x7f000001);
    int c = sock_connect((struct sockaddr *)&to, sizeof(to));
    assert_true(c >= 0);
    wait_fd(c, POLLOUT);
    assert_int_equal(sock_error(c), 0);
    wait_fd(lfd, POLLIN);
    int s = sock_accept(lfd, &peer, &peer_len);
    assert_true(s >= 0);
    assert_true(fcntl(s, F_GETFL) & O_NONBLOCK);
    assert_int_equal(peer.ss_family, AF_INET);

    const struct xprt_ops *x = &sock_xprt;
    assert_false(x->record_reads);
    char buf[16];
    assert_int_equal(x->read(NULL, s, buf, sizeof(buf)), -EAGAIN);
    assert_int_equal(x->write(NULL, c, "hello", 5), 5);
    wait_fd(s, POLLIN);
    assert_int_equal(x->read(NULL, s, buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "hello", 5);
    /* Half-close: the server reads the end of stream and can still answer. */
    assert_int_equal(x->shutdown(NULL, c), 0);
    wait_fd(s, POLLIN);
    assert_int_equal(x->read(NULL, s, buf, sizeof(buf)), 0);
    assert_int_equal(x->write(NULL, s, "bye", 3), 3);
    wait_fd(c, POLLIN);
    assert_int_equal(x->read(NULL, c, buf, sizeof(buf)), 3);
    /* Writing to a peer that is gone: an error value, not a signal. */
    close(c);
    ssize_t rc = 0;
    for (int i = 0; i < 100 && rc >= 0; i++) rc = x->write(NULL, s, "late", 4);
    assert_true(rc == -EPIPE || rc == -ECONNRESET);
    close(s);
    close(lfd);
}

static void
test_refused_connect_shows_in_sock_error(void **state)
{
    (void)state;
    uint16_t port;
    int lfd = listen_local(&port);
    close(lfd); /* the port is free now: nobody listens */
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    to.sin_addr.s_addr = htonl(0x7f000001);
    int c = sock_connect((struct sockaddr *)&to, sizeof(to));
    if (c < 0) {
        assert_int_equal(c, -ECONNREFUSED); /* refused at once on loopback */
        return;
    }
    wait_fd(c, POLLOUT);
    assert_int_equal(sock_error(c), -ECONNREFUSED);
    close(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sock_parses_addresses),
        cmocka_unit_test(test_sock_connects_accepts_and_moves_bytes),
        cmocka_unit_test(test_refused_connect_shows_in_sock_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
