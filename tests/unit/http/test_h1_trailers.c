/* SPDX-License-Identifier: Apache-2.0 */
/* Chunked trailers kept as data: the section is consumed only once whole, whatever the
 * pieces it arrives in, checked once (never again from its start), and split into fields. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "http/h1_parse.h"

static struct h1_limits lim;

/* Feed <text> as a receive buffer fills: <step> more bytes each time, what was not
 * consumed offered again. Returns the body and the trailer section (a copy). */
static void
feed(const char *text, size_t step, struct h1_chunked *c, char *body, size_t *body_len,
     char *trailers, size_t *trailers_len, size_t *calls)
{
    size_t n = strlen(text), rd = 0, wr = 0;
    h1_chunked_init(c, &lim);
    h1_chunked_keep_trailers(c);
    *body_len = *trailers_len = *calls = 0;
    while (!h1_chunked_done(c)) {
        wr = wr + step < n ? wr + step : n;
        struct slice data;
        ssize_t rc = h1_chunked_parse(c, text + rd, wr - rd, &data);
        (*calls)++;
        assert_true(rc >= 0);
        memcpy(body + *body_len, data.ptr, data.len);
        *body_len += data.len;
        rd += (size_t)rc;
        if (rc == 0 && wr == n) break;
    }
    assert_true(h1_chunked_done(c));
    assert_int_equal(rd, n);
    memcpy(trailers, c->trailers.ptr, c->trailers.len);
    *trailers_len = c->trailers.len;
}

static void
test_trailers_are_kept_whole_at_every_split(void **state)
{
    (void)state;
    const char *text = "5\r\nhello\r\n0\r\ngrpc-status: 0\r\ngrpc-message:  ok \r\n\r\n";
    for (size_t step = 1; step <= strlen(text); step++) {
        struct h1_chunked c;
        char body[64], tr[128];
        size_t body_len, tr_len, calls;
        feed(text, step, &c, body, &body_len, tr, &tr_len, &calls);
        assert_int_equal(body_len, 5);
        assert_memory_equal(body, "hello", 5);
        const char *want = "grpc-status: 0\r\ngrpc-message:  ok \r\n";
        assert_int_equal(tr_len, strlen(want));
        assert_memory_equal(tr, want, tr_len);
        struct h1_header f[4];
        size_t nf = h1_trailer_fields(slice_make(tr, tr_len), f, 4);
        assert_int_equal(nf, 2);
        assert_true(slice_eq(f[0].name, "grpc-status") && slice_eq(f[0].value, "0"));
        assert_true(slice_eq(f[1].name, "grpc-message") && slice_eq(f[1].value, "ok"));
    }
}

static void
test_no_trailers_is_an_empty_section(void **state)
{
    (void)state;
    struct h1_chunked c;
    char body[64], tr[16];
    size_t body_len, tr_len, calls;
    feed("3\r\nabc\r\n0\r\n\r\n", 1, &c, body, &body_len, tr, &tr_len, &calls);
    assert_int_equal(body_len, 3);
    assert_int_equal(tr_len, 0);
}

/* A section trickling in byte by byte is checked once: the work stays linear. */
static void
test_held_section_is_not_checked_again(void **state)
{
    (void)state;
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof(text), "0\r\n");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "x-t%d: v\r\n", i);
    snprintf(text + n, sizeof(text) - n, "\r\n");
    struct h1_chunked c;
    h1_chunked_init(&c, &lim);
    h1_chunked_keep_trailers(&c);
    size_t total = strlen(text), rd = 0, checked = 0;
    for (size_t wr = 1; wr <= total && !h1_chunked_done(&c); wr++) {
        struct slice data;
        size_t before = c.trailer_bytes;
        ssize_t rc = h1_chunked_parse(&c, text + rd, wr - rd, &data);
        assert_true(rc >= 0);
        checked += c.trailer_bytes - before;
        rd += (size_t)rc;
    }
    assert_true(h1_chunked_done(&c));
    assert_int_equal(rd, total);
    assert_true(checked <= total); /* each byte once */
    struct h1_header f[256];
    assert_int_equal(h1_trailer_fields(c.trailers, f, 256), 200);
}

static void
test_oversized_section_is_431(void **state)
{
    (void)state;
    static char text[20000];
    size_t n = (size_t)snprintf(text, sizeof(text), "0\r\nx: ");
    memset(text + n, 'a', 17000);
    memcpy(text + n + 17000, "\r\n\r\n", 5);
    struct h1_chunked c;
    h1_chunked_init(&c, &lim);
    h1_chunked_keep_trailers(&c);
    struct slice data;
    assert_int_equal(h1_chunked_parse(&c, text, strlen(text), &data), H1_BAD);
    assert_int_equal(c.status, 431);
}

/* Without keep_trailers the section is consumed as it comes, as before. */
static void
test_dropped_trailers_are_consumed_at_once(void **state)
{
    (void)state;
    const char *part = "0\r\nx-a: 1\r\n";
    struct h1_chunked c;
    h1_chunked_init(&c, &lim);
    struct slice data;
    assert_int_equal(h1_chunked_parse(&c, part, strlen(part), &data), (ssize_t)strlen(part));
    assert_false(h1_chunked_done(&c));
    assert_int_equal(c.trailers.len, 0);
}

int
main(void)
{
    h1_limits_default(&lim);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trailers_are_kept_whole_at_every_split),
        cmocka_unit_test(test_no_trailers_is_an_empty_section),
        cmocka_unit_test(test_held_section_is_not_checked_again),
        cmocka_unit_test(test_oversized_section_is_431),
        cmocka_unit_test(test_dropped_trailers_are_consumed_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
