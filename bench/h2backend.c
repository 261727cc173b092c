/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP/2 upstream of bench/h2.sh: an h2c (prior knowledge) server on libnghttp2, one
 * thread, level-triggered epoll, that answers every request with its name so that the split
 * can be counted. A gRPC request (content-type application/grpc) gets a gRPC answer: one
 * length-prefixed message, then grpc-status 0 in trailers; anything else gets a small JSON
 * body. A request with x-delay-ms: N is answered N ms after its end (streams held open for
 * the memory measure). C and nghttp2 with every frame of a wakeup written in one send, so
 * that the backend is not what limits the benchmark; not meshlet, and fit for nothing else.
 *
 * usage: h2backend PORT NAME (on 127.0.0.1) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

struct conn;

struct stream {
    struct conn *c;
    struct stream *prev, *next;   /* the connection's streams */
    struct stream *tprev, *tnext; /* the delayed answers, by due time */
    int32_t id;
    int grpc, delayed;
    long delay_ms, due_ms;
    size_t off;
};

struct conn {
    int fd, want_out;
    nghttp2_session *s;
    struct stream *streams;
    char *out;
    size_t out_len, out_cap;
};

static int epfd;
static const char *name;
static char json[128], grpc_msg[128];
static size_t json_len, grpc_len;
static struct stream *delayed_head, *delayed_tail;

static long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
unlink_delayed(struct stream *st)
{
    if (!st->delayed) return;
    if (st->tprev)
        st->tprev->tnext = st->tnext;
    else
        delayed_head = st->tnext;
    if (st->tnext)
        st->tnext->tprev = st->tprev;
    else
        delayed_tail = st->tprev;
    st->delayed = 0;
}

static void
stream_free(struct stream *st)
{
    unlink_delayed(st);
    if (st->prev)
        st->prev->next = st->next;
    else
        st->c->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    free(st);
}

static ssize_t
body_read(nghttp2_session *s, int32_t id, uint8_t *dst, size_t len, uint32_t *flags,
          nghttp2_data_source *src, void *arg)
{
    (void)arg;
    struct stream *st = src->ptr;
    const char *body = st->grpc ? grpc_msg : json;
    size_t total = st->grpc ? grpc_len : json_len, n = total - st->off;
    if (n > len) n = len;
    memcpy(dst, body + st->off, n);
    st->off += n;
    if (st->off == total) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (st->grpc) {
            nghttp2_nv trailer = {(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1,
                                  NGHTTP2_NV_FLAG_NONE};
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            if (nghttp2_submit_trailer(s, id, &trailer, 1)) return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
    }
    return (ssize_t)n;
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE             \
    }

static void
answer(struct stream *st)
{
    nghttp2_nv head[] = {
        NV(":status", "200"),
        NV("content-type", st->grpc ? "application/grpc" : "application/json"),
        NV("x-backend-version", name),
    };
    nghttp2_data_provider body = {.source.ptr = st, .read_callback = body_read};
    nghttp2_submit_response(st->c->s, st->id, head, 3, &body);
}

static int
on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    struct conn *c = arg;
    struct stream *st = calloc(1, sizeof(*st));
    if (!st) return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->c = c;
    st->id = f->hd.stream_id;
    st->next = c->streams;
    if (c->streams) c->streams->prev = st;
    c->streams = st;
    nghttp2_session_set_stream_user_data(s, st->id, st);
    return 0;
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nlen,
          const uint8_t *v, size_t vlen, uint8_t flags, void *arg)
{
    (void)flags, (void)arg;
    struct stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st) return 0;
    if (nlen == 12 && !memcmp(n, "content-type", 12) && vlen >= 16 &&
        !memcmp(v, "application/grpc", 16))
        st->grpc = 1;
    if (nlen == 10 && !memcmp(n, "x-delay-ms", 10)) st->delay_ms = strtol((const char *)v, 0, 10);
    return 0;
}

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    (void)arg;
    if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
    struct stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st) return 0;
    if (st->delay_ms <= 0) {
        answer(st);
        return 0;
    }
    /* Sorted insert from the tail: delays are nearly always equal, so this is O(1). */
    st->due_ms = now_ms() + st->delay_ms;
    struct stream *after = delayed_tail;
    while (after && after->due_ms > st->due_ms) after = after->tprev;
    st->tprev = after;
    st->tnext = after ? after->tnext : delayed_head;
    if (st->tnext)
        st->tnext->tprev = st;
    else
        delayed_tail = st;
    if (after)
        after->tnext = st;
    else
        delayed_head = st;
    st->delayed = 1;
    return 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
    (void)code, (void)arg;
    struct stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (st) stream_free(st);
    return 0;
}

static void
conn_close(struct conn *c)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    nghttp2_session_del(c->s);
    while (c->streams) stream_free(c->streams);
    free(c->out);
    free(c);
}

/* Everything nghttp2 has to send, in one send(); 0, or -1 when the connection is gone. */
static int
flush(struct conn *c)
{
    const uint8_t *data;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(c->s, &data)) > 0) {
        if (c->out_len + (size_t)n > c->out_cap) {
            size_t cap = (c->out_len + (size_t)n) * 2;
            char *p = realloc(c->out, cap);
            if (!p) return -1;
            c->out = p;
            c->out_cap = cap;
        }
        memcpy(c->out + c->out_len, data, (size_t)n);
        c->out_len += (size_t)n;
    }
    if (n < 0) return -1;
    if (c->out_len) {
        ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) return -1;
        if (w > 0) {
            memmove(c->out, c->out + w, c->out_len - (size_t)w);
            c->out_len -= (size_t)w;
        }
    }
    int want_out = c->out_len > 0;
    if (want_out != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want_out;
    }
    if (!nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s) && !c->out_len)
        return -1;
    return 0;
}

static int
conn_read(struct conn *c)
{
    uint8_t in[65536];
    for (;;) {
        ssize_t n = recv(c->fd, in, sizeof(in), 0);
        if (n < 0 && errno == EAGAIN) return 0;
        if (n <= 0) return -1;
        if (nghttp2_session_mem_recv(c->s, in, (size_t)n) != n) return -1;
        if ((size_t)n < sizeof(in)) return 0;
    }
}

static nghttp2_session_callbacks *cbs;

static void
conn_open(int lfd)
{
    int fd;
    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = calloc(1, sizeof(*c));
        if (!c || nghttp2_session_server_new(&c->s, cbs, c)) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        nghttp2_settings_entry set[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100000}};
        nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, set, 1);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
        if (flush(c)) conn_close(c);
    }
}

/* Answers whose delay is over, each connection flushed once. */
static void
answer_due(void)
{
    long now = now_ms();
    struct conn *touched[256];
    int n = 0;
    while (delayed_head && delayed_head->due_ms <= now && n < 256) {
        struct stream *st = delayed_head;
        unlink_delayed(st);
        answer(st);
        int seen = 0;
        for (int i = 0; i < n && !seen; i++) seen = touched[i] == st->c;
        if (!seen) touched[n++] = st->c;
    }
    for (int i = 0; i < n; i++)
        if (flush(touched[i])) conn_close(touched[i]);
}

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: h2backend PORT NAME\n");
        return 2;
    }
    name = argv[2];
    json_len = (size_t)snprintf(json, sizeof(json), "{\"version\":\"%s\"}\n", name);
    size_t msg = (size_t)snprintf(grpc_msg + 5, sizeof(grpc_msg) - 5, "version %s", name);
    grpc_msg[4] = (char)msg; /* uncompressed flag 0, 4-byte big-endian length */
    grpc_len = msg + 5;

    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(atoi(argv[1])),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4096)) {
        perror("h2backend: listen");
        return 1;
    }
    epfd = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);

    struct epoll_event evs[256];
    for (;;) {
        int timeout = -1;
        if (delayed_head) {
            long left = delayed_head->due_ms - now_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        int n = epoll_wait(epfd, evs, 256, timeout);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                conn_open(lfd);
                continue;
            }
            if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && conn_read(c)) {
                conn_close(c);
                continue;
            }
            if (flush(c)) conn_close(c);
        }
        if (delayed_head) answer_due();
    }
}
