/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP/1.1 parser against ../shared/spec/http1-strictness.md: every row, fed whole and
 * as every prefix (so byte-by-byte arrival and every split point), each input ending at a
 * guard page. A valid head must be "need more" for every shorter prefix; an invalid one
 * must never succeed, and must fail with the row's status once complete. Whole messages
 * (head and body: Content-Length, chunked, until close) go through the harness's split
 * feeder: cut in two and in three at every byte boundary, they decode to the same result. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "http/h1_parse.h"

static struct h1_limits lim;

static void
setup_limits(void)
{
    h1_limits_default(&lim);
}

/* Parse <text> (<n> bytes) as every prefix; returns the result for the whole input. */
static ssize_t
request_all_prefixes(const char *text, size_t n, struct h1_request *r, int want_status)
{
    for (size_t k = 0; k < n; k++) {
        const char *g = harness_guarded(text, k);
        ssize_t rc = h1_parse_request(g, k, &lim, r);
        if (rc >= 0) fail_msg("prefix %zu of %zu parsed as complete (%zd)", k, n, rc);
        if (rc == H1_BAD && r->head.status != want_status)
            fail_msg("prefix %zu: status %d (%s), want %d", k, r->head.status, r->head.error,
                     want_status);
    }
    const char *g = harness_guarded(text, n);
    return h1_parse_request(g, n, &lim, r);
}

#define REQ_OK(text, r)                                                                            \
    do {                                                                                           \
        ssize_t rc_ = request_all_prefixes(text, sizeof(text) - 1, r, -1);                         \
        if (rc_ < 0) fail_msg("rejected: %d %s", (r)->head.status, (r)->head.error);               \
        assert_int_equal(rc_, sizeof(text) - 1);                                                   \
    } while (0)

#define REQ_BAD(text, want)                                                                        \
    do {                                                                                           \
        struct h1_request r_;                                                                      \
        ssize_t rc_ = request_all_prefixes(text, sizeof(text) - 1, &r_, want);                     \
        if (rc_ != H1_BAD) fail_msg("accepted: %s", #text);                                        \
        if (r_.head.status != (want))                                                              \
            fail_msg("status %d (%s), want %d", r_.head.status, r_.head.error, want);              \
    } while (0)

static struct h1_request req;

static void
test_h1_parses_simple_get(void **state)
{
    (void)state;
    REQ_OK("GET /orders?id=7 HTTP/1.1\r\nHost: api.example.com\r\nX-A:  b c \r\n\r\n", &req);
    assert_true(slice_eq(req.method, "GET"));
    assert_true(slice_eq(req.target, "/orders?id=7"));
    assert_true(slice_eq(req.path, "/orders?id=7"));
    assert_true(slice_eq(req.authority, "api.example.com"));
    assert_int_equal(req.head.minor, 1);
    assert_true(req.head.keep_alive);
    assert_int_equal(req.head.body, H1_BODY_NONE);
    assert_int_equal(req.head.n_headers, 2);
    assert_true(slice_eq(req.head.headers[1].value, "b c"));
}

static void
test_h1_content_length_body(void **state)
{
    (void)state;
    REQ_OK("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", &req);
    assert_int_equal(req.head.body, H1_BODY_LENGTH);
    assert_int_equal(req.head.content_length, 5);
    REQ_OK("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n",
           &req);
    assert_int_equal(req.head.content_length, 5);
    REQ_OK("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &req);
    assert_int_equal(req.head.body, H1_BODY_NONE);
}

static void
test_h1_chunked_body_any_case(void **state)
{
    (void)state;
    REQ_OK("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &req);
    assert_int_equal(req.head.body, H1_BODY_CHUNKED);
}

static void
test_h1_rejects_cl_with_te(void **state)
{
    (void)state;
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n",
            400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n",
            400);
}

static void
test_h1_rejects_te_obfuscation(void **state)
{
    (void)state;
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0b\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
            400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\n\x7fTransfer-Encoding: chunked\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \xff"
            "chunked\r\n\r\n",
            400);
}

static void
test_h1_transfer_underscore_encoding_is_another_header(void **state)
{
    (void)state;
    REQ_OK("POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n", &req);
    assert_int_equal(req.head.body, H1_BODY_NONE);
    lim.reject_underscores = true;
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n", 400);
    setup_limits();
}

static void
test_h1_rejects_te_in_http10(void **state)
{
    (void)state;
    REQ_BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

static void
test_h1_rejects_bad_content_length(void **state)
{
    (void)state;
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 6\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 123456789012345678901234567890\r\n\r\n",
            400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n", 413);
}

static void
test_h1_rejects_obs_fold_and_leading_whitespace(void **state)
{
    (void)state;
    REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400);
    REQ_BAD("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
    REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", 400);
}

static void
test_h1_rejects_bare_lf_unless_lenient(void **state)
{
    (void)state;
    REQ_BAD("GET / HTTP/1.1\nHost: a\n\n", 400);
    REQ_BAD("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
    lim.lenient_lf = true;
    REQ_OK("GET / HTTP/1.1\nHost: a\n\n", &req);
    assert_true(slice_eq(req.authority, "a"));
    setup_limits();
}

static void
test_h1_rejects_bare_cr_and_control_bytes(void **state)
{
    (void)state;
    REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400);
    REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\x00"
            "b\r\n\r\n",
            400);
    REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01"
            "b\r\n\r\n",
            400);
    REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f"
            "b\r\n\r\n",
            400);
    REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nX\x00: b\r\n\r\n", 400);
    REQ_BAD("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_BAD("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void
test_h1_accepts_htab_and_obs_text_in_values(void **state)
{
    (void)state;
    REQ_OK("GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\xe9\r\n\r\n", &req);
    assert_int_equal(req.head.headers[1].value.len, 4);
}

static void
test_h1_size_limits(void **state)
{
    (void)state;
    static char line[20000], head[70000], many[8000];
    size_t n = (size_t)snprintf(line, sizeof(line), "GET /");
    memset(line + n, 'a', 17000);
    n += 17000;
    memcpy(line + n, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
    struct h1_request r;
    /* The line is refused as soon as it passes the limit, before its end arrives. */
    const char *g = harness_guarded(line, 16 * 1024 + 10);
    assert_int_equal(h1_parse_request(g, 16 * 1024 + 10, &lim, &r), H1_BAD);
    assert_int_equal(r.head.status, 414);

    n = (size_t)snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(head + n, 'b', 66000);
    g = harness_guarded(head, n + 66000);
    assert_int_equal(h1_parse_request(g, n + 66000, &lim, &r), H1_BAD);
    assert_int_equal(r.head.status, 431);

    n = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "X%d: v\r\n", i);
    n += (size_t)snprintf(many + n, sizeof(many) - n, "\r\n");
    g = harness_guarded(many, n);
    assert_int_equal(h1_parse_request(g, n, &lim, &r), H1_BAD);
    assert_int_equal(r.head.status, 431);
}

static void
test_h1_host_rules(void **state)
{
    (void)state;
    REQ_BAD("GET / HTTP/1.1\r\n\r\n", 400);
    REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    REQ_BAD("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    REQ_BAD("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400);
    REQ_BAD("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400);
    REQ_BAD("GET / HTTP/1.1\r\nHost:\r\n\r\n", 400);
    REQ_OK("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", &req);
    REQ_OK("GET / HTTP/1.0\r\n\r\n", &req);
    assert_int_equal(req.authority.len, 0);
    assert_false(req.head.keep_alive);
    /* absolute-form: the target's authority wins over Host (RFC 9112 §3.2.2) */
    REQ_OK("GET http://api.example.com:8080/a?b HTTP/1.1\r\nHost: evil.example\r\n\r\n", &req);
    assert_true(slice_eq(req.authority, "api.example.com:8080"));
    assert_true(slice_eq(req.path, "/a?b"));
    REQ_OK("GET HTTPS://api.example.com HTTP/1.1\r\nHost: x\r\n\r\n", &req);
    assert_true(slice_eq(req.path, "/"));
    REQ_BAD("GET http://u@api.example.com/ HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

static void
test_h1_request_line_rules(void **state)
{
    (void)state;
    REQ_BAD("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_BAD("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_BAD("GET / http/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_BAD("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
    REQ_BAD("GET /\r\nHost: a\r\n\r\n", 400);
    REQ_BAD("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    REQ_BAD("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_BAD("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_BAD("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REQ_OK("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &req);
    REQ_OK("CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n", &req);
    assert_true(slice_eq(req.authority, "api.example.com:443"));
    REQ_BAD("ABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJ / HTTP/1.1\r\nHost: a\r\n\r\n", 501);
    REQ_OK("PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n", &req);
}

static void
test_h1_connection_rules(void **state)
{
    (void)state;
    REQ_OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &req);
    assert_false(req.head.keep_alive);
    REQ_OK("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req);
    assert_true(req.head.keep_alive);
    REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, Content-Length\r\n\r\n", 400);
    REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nConnection: x-forwarded-for\r\n\r\n", 400);
    REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Envoy-Original-Path\r\n\r\n", 400);
    REQ_OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", &req);
    assert_true(req.head.upgrade);
}

static void
test_h1_expect_continue_and_leading_empty_lines(void **state)
{
    (void)state;
    REQ_OK(
        "\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n",
        &req);
    assert_true(req.expect_continue);
    assert_true(slice_eq(req.method, "POST"));
}

static void
test_h1_pipelined_requests_parse_one_at_a_time(void **state)
{
    (void)state;
    static const char two[] = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                              "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *g = harness_guarded(two, sizeof(two) - 1);
    struct h1_request r;
    ssize_t n = h1_parse_request(g, sizeof(two) - 1, &lim, &r);
    assert_true(n > 0);
    assert_true(slice_eq(r.path, "/a"));
    size_t next = (size_t)n + r.head.content_length;
    ssize_t m = h1_parse_request(g + next, sizeof(two) - 1 - next, &lim, &r);
    assert_int_equal((size_t)m, sizeof(two) - 1 - next);
    assert_true(slice_eq(r.path, "/b"));
}

/* ---- responses ---- */

static ssize_t
response(const char *text, size_t n, bool head, struct h1_response *r)
{
    for (size_t k = 0; k < n; k++) {
        ssize_t rc = h1_parse_response(harness_guarded(text, k), k, &lim, head, r);
        if (rc >= 0) fail_msg("response prefix %zu of %zu parsed as complete", k, n);
    }
    return h1_parse_response(harness_guarded(text, n), n, &lim, head, r);
}

#define RESP(text, head, r) response(text, sizeof(text) - 1, head, r)

static void
test_h1_response_framing(void **state)
{
    (void)state;
    struct h1_response r;
    assert_true(RESP("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", false, &r) > 0);
    assert_int_equal(r.code, 200);
    assert_true(slice_eq(r.reason, "OK"));
    assert_int_equal(r.head.body, H1_BODY_LENGTH);
    assert_int_equal(r.head.content_length, 12);
    assert_true(r.head.keep_alive);
    assert_true(RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, &r) > 0);
    assert_int_equal(r.head.body, H1_BODY_CHUNKED);
    assert_true(RESP("HTTP/1.1 200 OK\r\n\r\n", false, &r) > 0);
    assert_int_equal(r.head.body, H1_BODY_UNTIL_CLOSE);
    assert_false(r.head.keep_alive);
    assert_true(RESP("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, &r) > 0);
    assert_int_equal(r.head.body, H1_BODY_NONE);
    assert_true(RESP("HTTP/1.1 304 Not Modified\r\n\r\n", false, &r) > 0);
    assert_int_equal(r.head.body, H1_BODY_NONE);
    assert_true(RESP("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, &r) > 0);
    assert_int_equal(r.head.body, H1_BODY_NONE);
    assert_true(RESP("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, &r) > 0);
    assert_int_equal(r.reason.len, 0);
    assert_true(RESP("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false, &r) > 0);
    assert_false(r.head.keep_alive);
    assert_true(RESP("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                     "Upgrade: websocket\r\n\r\n",
                     false, &r) > 0);
    assert_true(r.head.upgrade);
}

static void
test_h1_bad_responses_are_502(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 20x OK\r\n\r\n",
        "HTTP/1.1 099 Hm\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        "HTTP/1.1 200 OK\r\nX: \x01\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/2 200\r\n\r\n",
        "\r\nHTTP/1.1 200 OK\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct h1_response r;
        ssize_t rc = response(bad[i], strlen(bad[i]), false, &r);
        if (rc != H1_BAD) fail_msg("accepted response #%zu", i);
        assert_int_equal(r.head.status, 502);
    }
}

/* ---- chunked ---- */

/* Decode <text> fed in pieces of <step> bytes (0: whole); returns H1_BAD or the number of
 * bytes consumed, with the body in <out>. */
static ssize_t
dechunk(const char *text, size_t n, size_t step, char *out, size_t *out_len, struct h1_chunked *c)
{
    h1_chunked_init(c, &lim);
    *out_len = 0;
    size_t pos = 0;
    while (pos < n && !h1_chunked_done(c)) {
        size_t avail = step ? (n - pos < step ? n - pos : step) : n - pos;
        const char *g = harness_guarded(text + pos, avail);
        struct slice data;
        ssize_t rc = h1_chunked_parse(c, g, avail, &data);
        if (rc < 0) return rc;
        memcpy(out + *out_len, data.ptr, data.len);
        *out_len += data.len;
        pos += (size_t)rc;
        if (rc == 0 && avail == n - pos) break;
    }
    return (ssize_t)pos;
}

static void
chunked_ok(const char *text, const char *body)
{
    size_t n = strlen(text);
    for (size_t step = 0; step <= n; step++) {
        char out[4096];
        size_t out_len;
        struct h1_chunked c;
        ssize_t rc = dechunk(text, n, step, out, &out_len, &c);
        if (rc < 0) fail_msg("step %zu: rejected: %s", step, c.error);
        assert_true(h1_chunked_done(&c));
        assert_int_equal(out_len, strlen(body));
        assert_memory_equal(out, body, out_len);
    }
}

static void
chunked_bad_n(const char *text, size_t n, int status)
{
    for (size_t step = 0; step <= n; step++) {
        char out[4096];
        size_t out_len;
        struct h1_chunked c;
        ssize_t rc = dechunk(text, n, step, out, &out_len, &c);
        if (rc != H1_BAD) fail_msg("step %zu: accepted %s", step, text);
        assert_int_equal(c.status, status);
    }
}

#define chunked_bad(lit, status) chunked_bad_n(lit, sizeof(lit) - 1, status)

static void
test_h1_chunked_decodes_at_every_split(void **state)
{
    (void)state;
    chunked_ok("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
    chunked_ok("5;a=b;c=\"d e\"\r\nhello\r\n0\r\n\r\n", "hello");
    chunked_ok("5 ;x\r\nhello\r\n0\r\n\r\n", "hello");
    chunked_ok("A\r\n0123456789\r\n0\r\nX-Checksum: abc\r\nY: z\r\n\r\n", "0123456789");
    chunked_ok("0000000000000000000005\r\nhello\r\n0\r\n\r\n", "hello");
    chunked_ok("0\r\n\r\n", "");
}

static void
test_h1_chunked_rejects_bad_framing(void **state)
{
    (void)state;
    chunked_bad("0x10\r\n", 400);
    chunked_bad("+5\r\nhello\r\n0\r\n\r\n", 400);
    chunked_bad("5_0\r\n", 400);
    chunked_bad(" 5\r\nhello\r\n0\r\n\r\n", 400);
    chunked_bad("5 \r\nhello\r\n0\r\n\r\n", 400);
    chunked_bad("11111111111111111\r\n", 400);
    chunked_bad("5\r\nhelloX\r\n0\r\n\r\n", 400);
    chunked_bad("5\nhello\r\n0\r\n\r\n", 400);
    chunked_bad("5\r\nhello\n0\r\n\r\n", 400);
    chunked_bad("5;a\rb\r\nhello\r\n0\r\n\r\n", 400);
    chunked_bad("5;a\x00\r\nhello\r\n0\r\n\r\n", 400);
    chunked_bad("0\r\nX\x01: y\r\n\r\n", 400);
    chunked_bad("0\r\nno-colon\r\n\r\n", 400);
    chunked_bad("0\r\n\r\r", 400);
}

static void
test_h1_chunked_limits(void **state)
{
    (void)state;
    static char ext[6000];
    size_t n = (size_t)snprintf(ext, sizeof(ext), "1;");
    memset(ext + n, 'x', 5000);
    n += 5000;
    memcpy(ext + n, "\r\na\r\n0\r\n\r\n", 11);
    chunked_bad_n(ext, n + 10, 400);
    lim.max_content_length = 8;
    chunked_bad("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 413);
    setup_limits();
}

static void
test_h1_chunked_stops_at_end_of_body(void **state)
{
    (void)state;
    static const char text[] = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    struct h1_chunked c;
    char out[64];
    size_t out_len;
    ssize_t rc = dechunk(text, sizeof(text) - 1, 0, out, &out_len, &c);
    assert_int_equal(rc, 13);
    assert_true(h1_chunked_done(&c));
}

/* ---- generated smuggling corpus (http1-strictness.md, "Building a smuggling corpus") ----
 * Each base request gets one byte from the spec's byte set inserted at each interesting
 * position of each header line. Whatever the parser accepts must be unambiguous: names are
 * tokens, values carry no control byte but HTAB, CL and TE never both count, and writing the
 * head out again canonically and parsing it gives the same framing and authority. */

static void
reserialize(const struct h1_request *r, char *out, size_t *n)
{
    size_t k = (size_t)snprintf(out, 8192, "%.*s %.*s HTTP/1.%d\r\n", (int)r->method.len,
                                r->method.ptr, (int)r->target.len, r->target.ptr, r->head.minor);
    for (size_t i = 0; i < r->head.n_headers; i++) {
        const struct h1_header *h = &r->head.headers[i];
        k += (size_t)snprintf(out + k, 8192 - k, "%.*s: %.*s\r\n", (int)h->name.len, h->name.ptr,
                              (int)h->value.len, h->value.ptr);
    }
    k += (size_t)snprintf(out + k, 8192 - k, "\r\n");
    *n = k;
}

static void
check_unambiguous(const struct h1_request *r)
{
    bool cl = false, te = false;
    for (size_t i = 0; i < r->head.n_headers; i++) {
        const struct h1_header *h = &r->head.headers[i];
        for (size_t k = 0; k < h->name.len; k++) {
            unsigned char c = (unsigned char)h->name.ptr[k];
            assert_true(c > 0x20 && c < 0x7f && c != ':');
        }
        for (size_t k = 0; k < h->value.len; k++) {
            unsigned char c = (unsigned char)h->value.ptr[k];
            assert_true(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        cl |= slice_ieq(h->name, "content-length");
        te |= slice_ieq(h->name, "transfer-encoding");
    }
    assert_false(cl && te);
    static char again[8192];
    size_t n;
    reserialize(r, again, &n);
    struct h1_request r2;
    assert_int_equal(h1_parse_request(again, n, &lim, &r2), (ssize_t)n);
    assert_int_equal(r2.head.body, r->head.body);
    assert_int_equal(r2.head.content_length, r->head.content_length);
    assert_true(slice_same(r2.authority, r->authority));
}

static void
test_h1_generated_smuggling_corpus_is_never_ambiguous(void **state)
{
    (void)state;
    static const char *const bases[] = {
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.example\r\nConnection: keep-alive\r\n\r\n",
    };
    static const unsigned char bytes[] = {0x00, 0x01, 0x04, 0x08, 0x09, 0x0a, 0x0b,
                                          0x0c, 0x0d, 0x1f, 0x20, 0x7f, 0xa0, 0xff};
    size_t cases = 0, accepted = 0;
    for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
        const char *base = bases[b];
        size_t len = strlen(base);
        /* Interesting positions on every header line: before the name, inside it, before
         * and after the colon, at the end of the value, after the CR, after the LF. */
        size_t positions[256], np = 0;
        for (size_t i = 0; i + 1 < len; i++) {
            if (base[i] == '\n' && np < 250) {
                positions[np++] = i + 1; /* before name / after LF */
                positions[np++] = i + 3; /* inside name */
            }
            if (base[i] == ':' && np < 250) {
                positions[np++] = i;     /* before colon */
                positions[np++] = i + 1; /* after colon */
            }
            if (base[i] == '\r' && np < 250) {
                positions[np++] = i;     /* end of value */
                positions[np++] = i + 1; /* after CR */
            }
        }
        for (size_t p = 0; p < np; p++) {
            for (size_t k = 0; k < sizeof(bytes); k++) {
                char in[512];
                memcpy(in, base, positions[p]);
                in[positions[p]] = (char)bytes[k];
                memcpy(in + positions[p] + 1, base + positions[p], len - positions[p]);
                size_t n = len + 1;
                struct h1_request r;
                ssize_t rc = h1_parse_request(harness_guarded(in, n), n, &lim, &r);
                cases++;
                if (rc > 0) {
                    accepted++;
                    check_unambiguous(&r);
                } else if (rc == H1_BAD) {
                    assert_true(r.head.status >= 400 && r.head.status < 600);
                }
            }
        }
    }
    /* The corpus is real: hundreds of cases, most refused, some harmless ones accepted. */
    assert_true(cases > 500);
    assert_true(accepted > 0 && accepted < cases / 2);
}

/* ---- whole messages through the split feeder ----
 * A receiver as a connection drives the parser: bytes accumulate in a buffer; the head is
 * parsed again from the start on every arrival; then the body by Content-Length, chunked
 * (the decoder keeps state across pieces) or until close. Cut at every byte boundary (two
 * and three pieces), the result must be the one of the whole message. */

struct receiver {
    bool response, head_request;
    char in[4096]; /* received, not consumed */
    size_t in_len;
    enum { RX_HEAD, RX_LENGTH, RX_CHUNKED, RX_CLOSE, RX_DONE, RX_BAD } phase;
    struct h1_request req;
    struct h1_response resp;
    uint64_t left;
    struct h1_chunked chunked;
    char body[4096];
    size_t body_len;
    char summary[512];
};

static void
rx_reset(void *ctx)
{
    struct receiver *rx = ctx;
    bool response = rx->response, head_request = rx->head_request;
    memset(rx, 0, sizeof(*rx));
    rx->response = response;
    rx->head_request = head_request;
}

static void
rx_consume(struct receiver *rx, size_t n)
{
    memmove(rx->in, rx->in + n, rx->in_len - n);
    rx->in_len -= n;
}

/* The head, once parsed, in words; the slices are written out before the buffer moves. */
static void
rx_head(struct receiver *rx, const struct h1_head *h)
{
    size_t k = strlen(rx->summary);
    k += (size_t)snprintf(rx->summary + k, sizeof(rx->summary) - k,
                          " minor=%d body=%d cl=%llu ka=%d", h->minor, (int)h->body,
                          (unsigned long long)h->content_length, h->keep_alive);
    for (size_t i = 0; i < h->n_headers && k < sizeof(rx->summary); i++)
        k += (size_t)snprintf(rx->summary + k, sizeof(rx->summary) - k, " [%.*s=%.*s]",
                              (int)h->headers[i].name.len, h->headers[i].name.ptr,
                              (int)h->headers[i].value.len, h->headers[i].value.ptr);
    switch (h->body) {
    case H1_BODY_NONE: rx->phase = RX_DONE; break;
    case H1_BODY_LENGTH:
        rx->left = h->content_length;
        rx->phase = RX_LENGTH;
        break;
    case H1_BODY_CHUNKED:
        h1_chunked_init(&rx->chunked, &lim);
        rx->phase = RX_CHUNKED;
        break;
    case H1_BODY_UNTIL_CLOSE: rx->phase = RX_CLOSE; break;
    }
}

static void
rx_parse_head(struct receiver *rx)
{
    const char *g = harness_guarded(rx->in, rx->in_len);
    ssize_t rc;
    const struct h1_head *h;
    if (rx->response) {
        rc = h1_parse_response(g, rx->in_len, &lim, rx->head_request, &rx->resp);
        h = &rx->resp.head;
        if (rc >= 0)
            snprintf(rx->summary, sizeof(rx->summary), "%d '%.*s'", rx->resp.code,
                     (int)rx->resp.reason.len, rx->resp.reason.ptr);
    } else {
        rc = h1_parse_request(g, rx->in_len, &lim, &rx->req);
        h = &rx->req.head;
        if (rc >= 0)
            snprintf(rx->summary, sizeof(rx->summary), "%.*s %.*s @%.*s", (int)rx->req.method.len,
                     rx->req.method.ptr, (int)rx->req.path.len, rx->req.path.ptr,
                     (int)rx->req.authority.len, rx->req.authority.ptr);
    }
    if (rc == H1_NEED_MORE) return;
    if (rc == H1_BAD) {
        snprintf(rx->summary, sizeof(rx->summary), "bad head %d (%s)", h->status, h->error);
        rx->phase = RX_BAD;
        return;
    }
    rx_head(rx, h);
    rx_consume(rx, (size_t)rc);
}

/* Decode what the buffer holds; stops when more bytes are needed or the message ended. */
static void
rx_progress(struct receiver *rx)
{
    for (;;) {
        switch (rx->phase) {
        case RX_HEAD: {
            size_t before = rx->in_len;
            rx_parse_head(rx);
            if (rx->phase == RX_HEAD || (rx->phase != RX_BAD && before == rx->in_len)) return;
            break;
        }
        case RX_LENGTH: {
            size_t n = rx->left < rx->in_len ? (size_t)rx->left : rx->in_len;
            memcpy(rx->body + rx->body_len, rx->in, n);
            rx->body_len += n;
            rx->left -= n;
            rx_consume(rx, n);
            if (rx->left) return;
            rx->phase = RX_DONE;
            break;
        }
        case RX_CHUNKED: {
            struct slice data;
            const char *g = harness_guarded(rx->in, rx->in_len);
            ssize_t rc = h1_chunked_parse(&rx->chunked, g, rx->in_len, &data);
            if (rc < 0) {
                size_t k = strlen(rx->summary);
                snprintf(rx->summary + k, sizeof(rx->summary) - k, " bad chunk %d (%s)",
                         rx->chunked.status, rx->chunked.error);
                rx->phase = RX_BAD;
                return;
            }
            memcpy(rx->body + rx->body_len, data.ptr, data.len);
            rx->body_len += data.len;
            rx_consume(rx, (size_t)rc);
            if (h1_chunked_done(&rx->chunked)) {
                rx->phase = RX_DONE;
                break;
            }
            if (rc == 0) return;
            break;
        }
        case RX_CLOSE:
            memcpy(rx->body + rx->body_len, rx->in, rx->in_len);
            rx->body_len += rx->in_len;
            rx_consume(rx, rx->in_len);
            return;
        case RX_DONE:
        case RX_BAD: return;
        }
    }
}

static int
rx_feed(void *ctx, const char *piece, size_t len)
{
    struct receiver *rx = ctx;
    assert_true(rx->in_len + len <= sizeof(rx->in));
    memcpy(rx->in + rx->in_len, piece, len);
    rx->in_len += len;
    rx_progress(rx);
    return rx->phase == RX_BAD;
}

static void
rx_result(void *ctx, char *out, size_t cap)
{
    struct receiver *rx = ctx;
    static const char *const phases[] = {"head", "length", "chunked", "close", "done", "bad"};
    /* After an error the receiver stops reading, so what is left depends on the cut. */
    size_t left = rx->phase == RX_BAD ? 0 : rx->in_len;
    snprintf(out, cap, "%s: %s | body %zu '%.*s' | left %zu", phases[rx->phase], rx->summary,
             rx->body_len, (int)rx->body_len, rx->body, left);
}

static const struct harness_feeder receiver_feeder = {rx_reset, rx_feed, rx_result};

/* Feed <text> at every split; returns the whole-input result in a static buffer. */
static const char *
receive(const char *text, bool response, bool head_request)
{
    static struct receiver rx;
    static char whole[8192];
    rx.response = response;
    rx.head_request = head_request;
    size_t runs =
        harness_split_feed(&receiver_feeder, &rx, text, strlen(text), whole, sizeof(whole));
    assert_true(runs > strlen(text)); /* every split was fed */
    return whole;
}

#define assert_prefix(s, prefix) assert_memory_equal(s, prefix, strlen(prefix))

static void
test_h1_requests_parse_alike_at_every_split(void **state)
{
    (void)state;
    const char *r =
        receive("GET /orders?id=7 HTTP/1.1\r\nHost: api.example.com\r\n\r\n", false, false);
    assert_prefix(r, "done: GET /orders?id=7 @api.example.com minor=1 body=0");
    r = receive("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", false, false);
    assert_prefix(r, "done: POST /x @a");
    assert_non_null(strstr(r, "| body 5 'hello' | left 0"));
    r = receive("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5;ext=\"a b\"\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n",
                false, false);
    assert_prefix(r, "done: POST /x @a");
    assert_non_null(strstr(r, "| body 11 'hello world' | left 0"));
    /* A pipelined request stays in the buffer, untouched, whatever the cut. */
    r = receive("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                "GET /b HTTP/1.1\r\nHost: a\r\n\r\n",
                false, false);
    assert_non_null(strstr(r, "| body 3 'abc' | left 28"));
    r = receive("\r\nPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                false, false);
    assert_non_null(strstr(r, "| body 0 '' | left 0"));
}

static void
test_h1_bad_requests_fail_alike_at_every_split(void **state)
{
    (void)state;
    const char *r = receive(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        "\r\n",
        false, false);
    assert_prefix(r, "bad: bad head 400");
    r = receive("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", false, false);
    assert_prefix(r, "bad: bad head 400");
    r = receive("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\r\nhelloX\r\n0\r\n\r\n",
                false, false);
    assert_prefix(r, "bad: POST / @a");
    assert_non_null(strstr(r, "bad chunk 400"));
    r = receive("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\nhello\r\n0\r\n\r\n",
                false, false);
    assert_non_null(strstr(r, "bad chunk 400"));
}

static void
test_h1_responses_parse_alike_at_every_split(void **state)
{
    (void)state;
    const char *r =
        receive("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world!", true, false);
    assert_prefix(r, "done: 200 'OK' minor=1 body=1 cl=12 ka=1");
    assert_non_null(strstr(r, "| body 12 'hello world!' | left 0"));
    r = receive("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\nabc\r\n0\r\nGrpc-Status: 0\r\n\r\n",
                true, false);
    assert_prefix(r, "done: 200 'OK'");
    assert_non_null(strstr(r, "| body 3 'abc' | left 0"));
    r = receive("HTTP/1.0 200 OK\r\n\r\nuntil the end", true, false);
    assert_prefix(r, "close: 200 'OK' minor=0 body=3");
    assert_non_null(strstr(r, "| body 13 'until the end' | left 0"));
    /* No body after 204 or to a HEAD request, whatever Content-Length says. */
    r = receive("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", true, false);
    assert_prefix(r, "done: 204 'No Content' minor=1 body=0");
    r = receive("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, true);
    assert_prefix(r, "done: 200 'OK' minor=1 body=0");
    r = receive("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true,
                false);
    assert_prefix(r, "bad: bad head 502");
}

static int
group_setup(void **state)
{
    (void)state;
    setup_limits();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h1_parses_simple_get),
        cmocka_unit_test(test_h1_content_length_body),
        cmocka_unit_test(test_h1_chunked_body_any_case),
        cmocka_unit_test(test_h1_rejects_cl_with_te),
        cmocka_unit_test(test_h1_rejects_te_obfuscation),
        cmocka_unit_test(test_h1_transfer_underscore_encoding_is_another_header),
        cmocka_unit_test(test_h1_rejects_te_in_http10),
        cmocka_unit_test(test_h1_rejects_bad_content_length),
        cmocka_unit_test(test_h1_rejects_obs_fold_and_leading_whitespace),
        cmocka_unit_test(test_h1_rejects_bare_lf_unless_lenient),
        cmocka_unit_test(test_h1_rejects_bare_cr_and_control_bytes),
        cmocka_unit_test(test_h1_accepts_htab_and_obs_text_in_values),
        cmocka_unit_test(test_h1_size_limits),
        cmocka_unit_test(test_h1_host_rules),
        cmocka_unit_test(test_h1_request_line_rules),
        cmocka_unit_test(test_h1_connection_rules),
        cmocka_unit_test(test_h1_expect_continue_and_leading_empty_lines),
        cmocka_unit_test(test_h1_pipelined_requests_parse_one_at_a_time),
        cmocka_unit_test(test_h1_response_framing),
        cmocka_unit_test(test_h1_bad_responses_are_502),
        cmocka_unit_test(test_h1_chunked_decodes_at_every_split),
        cmocka_unit_test(test_h1_chunked_rejects_bad_framing),
        cmocka_unit_test(test_h1_chunked_limits),
        cmocka_unit_test(test_h1_chunked_stops_at_end_of_body),
        cmocka_unit_test(test_h1_generated_smuggling_corpus_is_never_ambiguous),
        cmocka_unit_test(test_h1_requests_parse_alike_at_every_split),
        cmocka_unit_test(test_h1_bad_requests_fail_alike_at_every_split),
        cmocka_unit_test(test_h1_responses_parse_alike_at_every_split),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
