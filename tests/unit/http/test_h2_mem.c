/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP/2 allocator: a session's frame buffer is caught on pages of its own, its pages go
 * back only once frames were written, the session keeps working after they went (the next
 * frames are whole and right), and a server and a client session can still talk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "http/h2_mem.h"

struct side {
    struct h2_mem mem;
    nghttp2_session *ng;
    int settings; /* SETTINGS frames received */
    int pings;    /* PING ACKs received */
};

static int
on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct side *s = ud;
    (void)ng;
    if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK)) s->settings++;
    if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK)) s->pings++;
    return 0;
}

static void
side_new(struct side *s, bool server)
{
    nghttp2_session_callbacks *cb;
    memset(s, 0, sizeof(*s));
    assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    h2_mem_init(&s->mem);
    h2_mem_catch(&s->mem, true);
    int r = server ? nghttp2_session_server_new3(&s->ng, cb, s, NULL, &s->mem.mem)
                   : nghttp2_session_client_new3(&s->ng, cb, s, NULL, &s->mem.mem);
    h2_mem_catch(&s->mem, false);
    nghttp2_session_callbacks_del(cb);
    assert_int_equal(r, 0);
}

/* Everything <from> has to send, fed to <to>; how many bytes. */
static size_t
flush(struct side *from, struct side *to)
{
    size_t total = 0;
    for (;;) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(from->ng, &p);
        assert_true(n >= 0);
        if (!n) return total;
        from->mem.dirty = true;
        assert_int_equal(nghttp2_session_mem_recv(to->ng, p, (size_t)n), n);
        total += (size_t)n;
    }
}

static void
test_h2_mem_catches_the_frame_buffer_on_its_own_pages(void **state)
{
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    struct side s;
    side_new(&s, true);
    assert_non_null(s.mem.frames);
    assert_int_equal((uintptr_t)s.mem.frames % page, 0);
    assert_int_equal(s.mem.frames_len % page, 0);
    assert_true(s.mem.frames_len >= 16384);
    assert_false(s.mem.catching);
    nghttp2_session_del(s.ng);
    assert_null(s.mem.frames); /* freed through the allocator, no longer tracked */
}

static void
test_h2_mem_sheds_only_what_was_written(void **state)
{
    (void)state;
    struct side s;
    side_new(&s, true);
    assert_true(h2_mem_shed(&s.mem));  /* made dirty: the session writes SETTINGS first */
    assert_false(h2_mem_shed(&s.mem)); /* nothing written since */
    const unsigned char *p = s.mem.frames;
    for (size_t i = 0; i < s.mem.frames_len; i++)
        if (p[i]) fail_msg("byte %zu of a shed buffer is %u", i, p[i]);
    nghttp2_session_del(s.ng);
}

static void
test_h2_mem_sessions_talk_across_sheds(void **state)
{
    (void)state;
    struct side server, client;
    side_new(&server, true);
    side_new(&client, false);
    assert_int_equal(nghttp2_submit_settings(client.ng, NGHTTP2_FLAG_NONE, NULL, 0), 0);
    assert_int_equal(nghttp2_submit_settings(server.ng, NGHTTP2_FLAG_NONE, NULL, 0), 0);
    for (int round = 0; round < 3; round++) {
        assert_true(flush(&client, &server) > 0);
        flush(&server, &client);
        flush(&client, &server);
        h2_mem_shed(&server.mem);
        h2_mem_shed(&client.mem);
        assert_int_equal(nghttp2_submit_ping(client.ng, NGHTTP2_FLAG_NONE, NULL), 0);
    }
    flush(&client, &server);
    flush(&server, &client);
    assert_int_equal(server.settings, 1);
    assert_int_equal(client.settings, 1);
    assert_int_equal(client.pings, 3);
    nghttp2_session_del(server.ng);
    nghttp2_session_del(client.ng);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h2_mem_catches_the_frame_buffer_on_its_own_pages),
        cmocka_unit_test(test_h2_mem_sheds_only_what_was_written),
        cmocka_unit_test(test_h2_mem_sessions_talk_across_sheds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
