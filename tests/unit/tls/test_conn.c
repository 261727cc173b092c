/* SPDX-License-Identifier: Apache-2.0 */
/* The TLS transport over socket pairs, with a mesh CA made by tls/ca.c in a temporary
 * directory: the ISTIO_MUTUAL handshake (chain to the root, the server's SPIFFE SAN, the
 * client's ID and XFCC on the server side), data both ways, partial writes against a full
 * socket buffer with nothing lost or reordered, the peer's close read as end of stream,
 * the transport ops' shutdown (close_notify, then a half-close), refusals (wrong SAN,
 * another mesh's root, a plaintext or garbage-speaking peer, garbage inside an established
 * session), session resumption, and out of memory. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "tls/ca.h"
#include "tls/certs.h"
#include "tls/conn.h"

static struct tls_identity *server_id, *client_id, *stranger_id;
static char server_spiffe[256], client_spiffe[256];

static struct tls_identity *
issue(const char *ca, const char *ns, const char *sa, char *spiffe)
{
    char err[512], dir[512], id[256];
    snprintf(dir, sizeof(dir), "%s-%s-%s", ca, ns, sa);
    if (tls_ca_issue(ca, ns, sa, dir, 3600, id, sizeof(id), err, sizeof(err)))
        fail_msg("issue: %s", err);
    if (spiffe) snprintf(spiffe, 256, "%s", id);
    struct tls_identity *t = tls_identity_load(dir, err, sizeof(err));
    if (!t) fail_msg("load: %s", err);
    return t;
}

static int
group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* as meshlet runs: a write to a closed peer is -EPIPE */
    char err[512], ca[512], other[512];
    const char *tmp = harness_tmpdir();
    snprintf(ca, sizeof(ca), "%s/ca", tmp);
    snprintf(other, sizeof(other), "%s/other-ca", tmp);
    if (tls_ca_init(ca, "cluster.local", 3600, err, sizeof(err))) fail_msg("ca: %s", err);
    if (tls_ca_init(other, "cluster.local", 3600, err, sizeof(err))) fail_msg("ca: %s", err);
    server_id = issue(ca, "prod", "reviews", server_spiffe);
    client_id = issue(ca, "prod", "productpage", client_spiffe);
    stranger_id = issue(other, "prod", "productpage", NULL); /* same name, another root */
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    tls_identity_free(server_id);
    tls_identity_free(client_id);
    tls_identity_free(stranger_id);
    harness_cleanup();
    return 0;
}

struct pair {
    int fd[2]; /* [0] client's socket, [1] server's */
    struct tls_conn *client, *server;
    int client_rc, server_rc; /* last handshake results */
};

static void
pair_open(struct pair *p, const struct tls_identity *client, const char *const *sans, size_t n_sans)
{
    memset(p, 0, sizeof(*p));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->fd), 0);
    p->client = tls_conn_client(client, p->fd[0], "reviews.prod.svc.cluster.local", sans, n_sans);
    p->server = tls_conn_server(server_id, p->fd[1]);
    assert_non_null(p->client);
    assert_non_null(p->server);
}

static void
pair_close(struct pair *p)
{
    tls_conn_free(p->client);
    tls_conn_free(p->server);
    if (p->fd[0] >= 0) close(p->fd[0]);
    if (p->fd[1] >= 0) close(p->fd[1]);
}

/* Step both handshakes until each is done or failed (bounded: a socket pair never waits). */
static void
pair_handshake(struct pair *p)
{
    for (int i = 0; i < 100; i++) {
        if (p->client_rc == 0) p->client_rc = tls_conn_handshake(p->client);
        if (p->server_rc == 0) p->server_rc = tls_conn_handshake(p->server);
        if (p->client_rc != 0 && p->server_rc != 0) return;
        if (p->client_rc < 0 || p->server_rc < 0) {
            /* One side failed; let the other see the alert, then stop. */
            if (p->client_rc == 0) p->client_rc = tls_conn_handshake(p->client);
            if (p->server_rc == 0) p->server_rc = tls_conn_handshake(p->server);
            return;
        }
    }
    fail_msg("handshake did not finish: client %d, server %d", p->client_rc, p->server_rc);
}

/* Read exactly <n> bytes from <t> into <out> (bounded retries). */
static void
read_exactly(struct tls_conn *t, char *out, size_t n)
{
    size_t got = 0;
    for (int i = 0; got < n && i < 1000; i++) {
        ssize_t rc = tls_conn_read(t, out + got, n - got);
        if (rc == -EAGAIN) continue;
        assert_true(rc > 0);
        got += (size_t)rc;
    }
    assert_int_equal(got, n);
}

static void
test_mutual_handshake_checks_identities_and_carries_data(void **state)
{
    (void)state;
    const char *sans[] = {server_spiffe};
    struct pair p;
    pair_open(&p, client_id, sans, 1);
    pair_handshake(&p);
    assert_int_equal(p.client_rc, 1);
    assert_int_equal(p.server_rc, 1);
    assert_string_equal(tls_conn_peer_uri(p.client), server_spiffe);
    assert_string_equal(tls_conn_peer_uri(p.server), client_spiffe);
    /* Envoy's XFCC: By us, Hash of the client's certificate (64 hex digits), URI the client. */
    const char *xfcc = tls_conn_xfcc(p.server);
    char by[300];
    snprintf(by, sizeof(by), "By=%s;Hash=", server_spiffe);
    assert_memory_equal(xfcc, by, strlen(by));
    assert_int_equal(strcspn(xfcc + strlen(by), ";"), 64);
    char uri[300];
    snprintf(uri, sizeof(uri), ";Subject=\"\";URI=%s", client_spiffe);
    assert_string_equal(xfcc + strlen(by) + 64, uri);
    assert_string_equal(tls_conn_xfcc(p.client), ""); /* client side: none */
    char buf[64];
    assert_int_equal(tls_conn_read(p.server, buf, sizeof(buf)), -EAGAIN); /* nothing yet */
    assert_int_equal(tls_conn_write(p.client, "GET / HTTP/1.1\r\n", 16), 16);
    read_exactly(p.server, buf, 16);
    assert_memory_equal(buf, "GET / HTTP/1.1\r\n", 16);
    assert_int_equal(tls_conn_write(p.server, "HTTP/1.1 200 OK\r\n", 17), 17);
    read_exactly(p.client, buf, 17);
    assert_memory_equal(buf, "HTTP/1.1 200 OK\r\n", 17);
    pair_close(&p);
}

static void
test_partial_writes_against_a_full_socket_lose_nothing(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, client_id, NULL, 0);
    int small = 65536;
    setsockopt(p.fd[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(p.fd[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    pair_handshake(&p);
    assert_int_equal(p.client_rc, 1);
    enum { TOTAL = 1 << 20 };
    static char out[TOTAL], in[TOTAL];
    for (size_t i = 0; i < TOTAL; i++) out[i] = (char)(i * 7 + i / 4096);
    size_t sent = 0, got = 0;
    int would_block = 0, partial = 0;
    for (int round = 0; got < TOTAL && round < 100000; round++) {
        /* Write until the socket is full, then read some: an event loop's order. */
        while (sent < TOTAL) {
            size_t want = TOTAL - sent < 100000 ? TOTAL - sent : 100000;
            ssize_t n = tls_conn_write(p.client, out + sent, want);
            if (n == -EAGAIN) {
                would_block++;
                break;
            }
            assert_true(n > 0);
            if ((size_t)n < want) partial++;
            sent += (size_t)n;
        }
        for (int k = 0; k < 4; k++) {
            ssize_t n = tls_conn_read(p.server, in + got, TOTAL - got);
            if (n == -EAGAIN) break;
            assert_true(n > 0);
            got += (size_t)n;
        }
    }
    assert_int_equal(sent, TOTAL);
    assert_int_equal(got, TOTAL);
    assert_true(would_block > 0); /* the socket really was full */
    assert_true(partial > 0);     /* and writes came back short (partial-write mode) */
    assert_memory_equal(in, out, TOTAL);
    pair_close(&p);
}

static void
test_peer_close_reads_as_end_of_stream(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, client_id, NULL, 0);
    pair_handshake(&p);
    assert_int_equal(tls_conn_write(p.server, "last", 4), 4);
    /* The server goes away without close_notify (as meshlet's connections do). */
    tls_conn_free(p.server);
    p.server = NULL;
    close(p.fd[1]);
    p.fd[1] = -1;
    char buf[16];
    read_exactly(p.client, buf, 4);
    assert_memory_equal(buf, "last", 4);
    assert_int_equal(tls_conn_read(p.client, buf, sizeof(buf)), 0);
    pair_close(&p);

    /* A half-close of the socket after the data: the same. */
    pair_open(&p, client_id, NULL, 0);
    pair_handshake(&p);
    assert_int_equal(tls_conn_write(p.client, "bye", 3), 3);
    assert_int_equal(shutdown(p.fd[0], SHUT_WR), 0);
    read_exactly(p.server, buf, 3);
    assert_int_equal(tls_conn_read(p.server, buf, sizeof(buf)), 0);
    pair_close(&p);
}

static void
test_xprt_shutdown_sends_close_notify_and_keeps_reading(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, client_id, NULL, 0);
    pair_handshake(&p);
    /* Through the transport ops, as a codec uses them. */
    const struct xprt_ops *x = &tls_xprt;
    assert_true(x->record_reads);
    assert_int_equal(x->write(p.client, p.fd[0], "req", 3), 3);
    assert_int_equal(x->shutdown(p.client, p.fd[0]), 0);
    char buf[16];
    size_t got = 0;
    for (int i = 0; got < 3 && i < 100; i++) {
        ssize_t n = x->read(p.server, p.fd[1], buf + got, sizeof(buf) - got);
        if (n > 0) got += (size_t)n;
    }
    assert_int_equal(got, 3);
    assert_memory_equal(buf, "req", 3);
    assert_int_equal(x->read(p.server, p.fd[1], buf, sizeof(buf)), 0); /* close_notify */
    /* Half-close: the server still answers, the client still reads. */
    assert_int_equal(x->write(p.server, p.fd[1], "resp", 4), 4);
    got = 0;
    for (int i = 0; got < 4 && i < 100; i++) {
        ssize_t n = x->read(p.client, p.fd[0], buf + got, sizeof(buf) - got);
        if (n > 0) got += (size_t)n;
    }
    assert_int_equal(got, 4);
    assert_memory_equal(buf, "resp", 4);
    pair_close(&p);
}

static void
test_client_refuses_a_server_with_another_san(void **state)
{
    (void)state;
    const char *sans[] = {"spiffe://cluster.local/ns/prod/sa/ratings"};
    struct pair p;
    pair_open(&p, client_id, sans, 1);
    pair_handshake(&p);
    assert_int_equal(p.client_rc, -1);
    char want[400];
    snprintf(want, sizeof(want), "SAN mismatch: the server is %s", server_spiffe);
    assert_string_equal(tls_conn_error(p.client), want);
    pair_close(&p);
}

static void
test_another_meshs_root_fails_both_ends(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, stranger_id, NULL, 0);
    pair_handshake(&p);
    assert_int_equal(p.client_rc, -1);
    assert_int_equal(p.server_rc, -1);
    /* The client checks the server's chain first: a verify failure in words. */
    assert_non_null(strstr(tls_conn_error(p.client), "certificate verify failed"));
    assert_true(strlen(tls_conn_error(p.server)) > 0);
    pair_close(&p);
}

static void
test_plaintext_or_garbage_peer_fails_the_handshake(void **state)
{
    (void)state;
    /* A client talking to a plaintext HTTP server. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct tls_conn *c = tls_conn_client(client_id, sv[0], "x", NULL, 0);
    assert_non_null(c);
    assert_int_equal(tls_conn_handshake(c), 0); /* ClientHello out, waiting */
    static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(write(sv[1], http, sizeof(http) - 1), (ssize_t)sizeof(http) - 1);
    assert_int_equal(tls_conn_handshake(c), -1);
    assert_true(strlen(tls_conn_error(c)) > 0);
    tls_conn_free(c);
    close(sv[0]);
    close(sv[1]);

    /* A server given bytes that are no ClientHello, then nothing. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct tls_conn *s = tls_conn_server(server_id, sv[1]);
    assert_non_null(s);
    assert_int_equal(tls_conn_handshake(s), 0);
    static const unsigned char junk[] = {0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef,
                                         0x00, 'g',  'a',  'r',  'b',  'a',  'g',  'e'};
    assert_int_equal(write(sv[0], junk, sizeof(junk)), (ssize_t)sizeof(junk));
    assert_int_equal(tls_conn_handshake(s), -1);
    assert_true(strlen(tls_conn_error(s)) > 0);
    tls_conn_free(s);
    close(sv[0]);
    close(sv[1]);

    /* A peer that closes during the handshake. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    c = tls_conn_client(client_id, sv[0], "x", NULL, 0);
    assert_int_equal(tls_conn_handshake(c), 0);
    close(sv[1]);
    assert_int_equal(tls_conn_handshake(c), -1);
    tls_conn_free(c);
    close(sv[0]);
}

static void
test_garbage_inside_a_session_is_an_error_not_data(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, client_id, NULL, 0);
    pair_handshake(&p);
    /* A well-framed application-data record whose contents are not from the session key. */
    static const unsigned char forged[] = {
        0x17, 0x03, 0x03, 0x00, 0x20, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,
        15,   16,   17,   18,   19,   20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    assert_int_equal(write(p.fd[1], forged, sizeof(forged)), (ssize_t)sizeof(forged));
    char buf[64];
    ssize_t n = tls_conn_read(p.client, buf, sizeof(buf));
    assert_int_equal(n, -EIO);
    assert_true(strlen(tls_conn_error(p.client)) > 0);
    pair_close(&p);
}

static void
test_second_connection_resumes_the_session(void **state)
{
    (void)state;
    void *slot = NULL; /* an endpoint's session slot */
    const char *sans[] = {server_spiffe};
    char buf[8];
    for (int i = 0; i < 2; i++) {
        struct pair p;
        pair_open(&p, client_id, sans, 1);
        tls_conn_resume(p.client, &slot);
        pair_handshake(&p);
        assert_int_equal(p.client_rc, 1);
        assert_int_equal(tls_conn_resumed(p.client), i == 1);
        /* TLS 1.3 tickets follow the handshake: the client takes them while reading. */
        assert_int_equal(tls_conn_write(p.server, "ok", 2), 2);
        read_exactly(p.client, buf, 2);
        assert_non_null(slot);
        /* The SAN is checked on a resumed session too. */
        assert_string_equal(tls_conn_peer_uri(p.client), server_spiffe);
        pair_close(&p);
    }
    SSL_SESSION_free(slot); /* the slot's owner releases it */
}

static void
test_connection_out_of_memory_is_null(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    harness_alloc_fail_at(0); /* the connection's own struct */
    assert_null(tls_conn_client(client_id, sv[0], "x", NULL, 0));
    assert_int_equal(harness_alloc_fail_off(), 1);
    harness_alloc_fail_at(0);
    assert_null(tls_conn_server(server_id, sv[1]));
    assert_int_equal(harness_alloc_fail_off(), 1);
    tls_conn_free(NULL);
    close(sv[0]);
    close(sv[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutual_handshake_checks_identities_and_carries_data),
        cmocka_unit_test(test_partial_writes_against_a_full_socket_lose_nothing),
        cmocka_unit_test(test_peer_close_reads_as_end_of_stream),
        cmocka_unit_test(test_xprt_shutdown_sends_close_notify_and_keeps_reading),
        cmocka_unit_test(test_client_refuses_a_server_with_another_san),
        cmocka_unit_test(test_another_meshs_root_fails_both_ends),
        cmocka_unit_test(test_plaintext_or_garbage_peer_fails_the_handshake),
        cmocka_unit_test(test_garbage_inside_a_session_is_an_error_not_data),
        cmocka_unit_test(test_second_connection_resumes_the_session),
        cmocka_unit_test(test_connection_out_of_memory_is_null),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
