/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.1 message heads and chunked bodies, parsed strictly (RFC 9112, RFC 9110 §5.5).
 * A head is scanned once for its end, refusing bare CR and bare LF on the way, then parsed
 * line by line into slices; framing headers are checked together at the end. Nothing is
 * copied and nothing is kept between calls. The rules and the status each breach earns are
 * those of ../shared/spec/http1-strictness.md. */
#include "http/h1_parse.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* RFC 9110 §5.6.2 token characters. */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1,         ['&'] = 1,         ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,         ['^'] = 1,         ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1, ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

/* RFC 3986 reg-name characters: unreserved, sub-delims and '%' of a pct-encoding. */
static const unsigned char regname_char[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['-'] = 1, ['.'] = 1,
    ['_'] = 1,         ['~'] = 1,         ['!'] = 1,         ['$'] = 1, ['&'] = 1,
    ['\''] = 1,        ['('] = 1,         [')'] = 1,         ['*'] = 1, ['+'] = 1,
    [','] = 1,         [';'] = 1,         ['='] = 1,         ['%'] = 1,
};

/* Field value bytes: HTAB, SP, VCHAR, obs-text; every other control byte is refused. */
static inline bool
value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Every byte of p[0..n) a value byte? Eight at a time: a word with no byte below 0x20 and
 * none equal to 0x7f is clean (exact tests, with no false negative); a flagged word, which
 * HTAB also flags, is looked at byte by byte. */
static bool
value_bytes_ok(const char *p, size_t n)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        uint64_t del = x ^ (ones * 0x7f);
        if ((((x - ones * 0x20) & ~x) | ((del - ones) & ~del)) & highs) {
            for (size_t k = i; k < i + 8; k++)
                if (!value_char((unsigned char)p[k])) return false;
        }
    }
    for (; i < n; i++)
        if (!value_char((unsigned char)p[i])) return false;
    return true;
}

/* The offset of the first CR or LF in p[0..n), or n: one pass where two memchr calls
 * (one per byte) cost more on the short lines of a head. */
static size_t
first_cr_or_lf(const char *p, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        unsigned m =
            (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, cr), _mm_cmpeq_epi8(x, lf)));
        if (m) return i + (size_t)__builtin_ctz(m);
    }
#endif
    for (; i < n; i++)
        if (p[i] == '\r' || p[i] == '\n') return i;
    return n;
}

void
h1_limits_default(struct h1_limits *l)
{
    l->max_request_line = 16 * 1024;
    l->max_head_bytes = 64 * 1024;
    l->max_headers = 100;
    l->max_method_len = 32;
    l->max_content_length = (uint64_t)1 << 30;
    l->max_chunk_ext_bytes = 4096;
    l->max_trailer_bytes = 16 * 1024;
    l->lenient_lf = false;
    l->reject_underscores = false;
}

static ssize_t
bad(struct h1_head *h, int status, const char *error)
{
    h->status = status;
    h->error = error;
    return H1_BAD;
}

/* Find the end of the head starting at <pos>: returns its length from buf[0], H1_NEED_MORE
 * or H1_BAD. <line_status> is what an overlong first line earns (414 or 502). */
static ssize_t
scan_head(const char *buf, size_t len, size_t pos, const struct h1_limits *lim, int line_status,
          int head_status, struct h1_head *h)
{
    /* Line by line, stopping at each line's first CR or LF; errors come out in the order a
     * byte-by-byte scan meets them. */
    size_t line_start = pos;
    bool first_line = true;
    while (line_start < len) {
        size_t stop = line_start + first_cr_or_lf(buf + line_start, len - line_start);
        /* Limits on the bytes before it: the first line's length, then the head's size. */
        size_t too_long = first_line ? line_start + lim->max_request_line : SIZE_MAX;
        size_t too_big = pos + lim->max_head_bytes;
        if (too_long < stop && too_long <= too_big)
            return bad(h, line_status, "first line too long");
        if (too_big < stop) return bad(h, 431, "header section too large");
        size_t eol = stop, next;
        if (stop == len) {
            break;
        } else if (buf[stop] == '\r') {
            if (stop + 1 >= len) break;
            if (buf[stop + 1] != '\n') return bad(h, first_line ? 400 : head_status, "bare CR");
            next = stop + 2;
        } else {
            if (!lim->lenient_lf) return bad(h, head_status, "bare LF as line end");
            next = stop + 1;
        }
        if (eol == line_start && !first_line) return (ssize_t)next;
        if (eol == line_start) return bad(h, head_status, "empty first line");
        first_line = false;
        line_start = next;
    }
    if (len - pos > lim->max_head_bytes) return bad(h, 431, "header section too large");
    return H1_NEED_MORE;
}

/* The next line in [pos, end): sets <line> and <n>, and moves <pos> past the line end. */
static void
next_line(const char *buf, size_t *pos, size_t end, const char **line, size_t *n)
{
    /* scan_head has checked the line ends: CRLF, or a bare LF when lenient; a CR is
     * always followed by LF. */
    size_t eol = *pos + first_cr_or_lf(buf + *pos, end - *pos);
    *line = buf + *pos;
    *n = eol - *pos;
    *pos = eol + (eol < end && buf[eol] == '\r' ? 2 : 1);
}

static ssize_t
parse_header_line(const char *p, size_t n, const struct h1_limits *lim, int status,
                  struct h1_head *h)
{
    if (n && (p[0] == ' ' || p[0] == '\t'))
        return bad(h, status, "obs-fold or whitespace before a header line");
    size_t i = 0;
    while (i < n && tchar[(unsigned char)p[i]]) i++;
    if (i == n || p[i] != ':') {
        if (i < n && (p[i] == ' ' || p[i] == '\t'))
            return bad(h, status, "whitespace between header name and colon");
        return bad(h, status, "invalid character in header name");
    }
    if (i == 0) return bad(h, status, "empty header name");
    if (lim->reject_underscores && memchr(p, '_', i))
        return bad(h, status, "underscore in header name");
    if (h->n_headers >= lim->max_headers || h->n_headers >= H1_MAX_HEADERS)
        return bad(h, 431, "too many header fields");
    size_t v = i + 1;
    while (v < n && (p[v] == ' ' || p[v] == '\t')) v++;
    size_t e = n;
    while (e > v && (p[e - 1] == ' ' || p[e - 1] == '\t')) e--;
    if (!value_bytes_ok(p + v, e - v)) return bad(h, status, "control character in header value");
    struct h1_header *hd = &h->headers[h->n_headers++];
    hd->name = slice_make(p, i);
    hd->value = slice_make(p + v, e - v);
    return 0;
}

/* The header lines from <p> to the blank line ending the head at <end>. */
static ssize_t
parse_headers(const char *buf, size_t p, size_t end, const struct h1_limits *lim, int status,
              struct h1_head *h)
{
    while (p < end) {
        const char *line;
        size_t n;
        next_line(buf, &p, end, &line, &n);
        if (n == 0) break;
        ssize_t rc = parse_header_line(line, n, lim, status, h);
        if (rc) return rc;
    }
    h->head_len = end;
    return 0;
}

const struct h1_header *
h1_header_find(const struct h1_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (slice_ieq(h->headers[i].name, name)) return &h->headers[i];
    return NULL;
}

/* Calls <fn> for each comma-separated element of <v> with surrounding OWS removed; an
 * empty element is refused (returns false). */
static bool
each_element(struct slice v, bool (*fn)(struct slice elem, void *arg), void *arg)
{
    size_t i = 0;
    while (i <= v.len) {
        size_t j = i;
        while (j < v.len && v.ptr[j] != ',') j++;
        size_t a = i, b = j;
        while (a < b && (v.ptr[a] == ' ' || v.ptr[a] == '\t')) a++;
        while (b > a && (v.ptr[b - 1] == ' ' || v.ptr[b - 1] == '\t')) b--;
        if (a == b) return false;
        if (!fn(slice_make(v.ptr + a, b - a), arg)) return false;
        i = j + 1;
    }
    return true;
}

struct framing {
    bool have_cl, cl_bad, cl_too_big;
    uint64_t cl;
    bool have_te, te_bad, te_unsupported, chunked_seen, chunked_last;
    bool conn_close, conn_keep_alive, conn_upgrade, conn_forbidden;
    bool have_upgrade;
    size_t hosts;
    struct slice host;
    const struct h1_limits *lim;
};

static bool
cl_element(struct slice e, void *arg)
{
    struct framing *f = arg;
    if (e.len > 19) {
        f->cl_bad = true;
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < e.len; i++) {
        if (e.ptr[i] < '0' || e.ptr[i] > '9') {
            f->cl_bad = true;
            return false;
        }
        v = v * 10 + (uint64_t)(e.ptr[i] - '0');
    }
    if (f->have_cl && v != f->cl) {
        f->cl_bad = true; /* differing values: unrecoverable (RFC 9112 §6.3) */
        return false;
    }
    f->have_cl = true;
    f->cl = v;
    if (v > f->lim->max_content_length) f->cl_too_big = true;
    return true;
}

static bool
te_element(struct slice e, void *arg)
{
    struct framing *f = arg;
    for (size_t i = 0; i < e.len; i++) {
        if (!tchar[(unsigned char)e.ptr[i]]) {
            f->te_bad = true; /* parameters or junk: "chunked;x", "chunked\v" */
            return false;
        }
    }
    if (slice_ieq(e, "chunked")) {
        if (f->chunked_seen) {
            f->te_bad = true; /* chunked may not be applied twice (RFC 9112 §6.1) */
            return false;
        }
        f->chunked_seen = true;
        f->chunked_last = true;
        return true;
    }
    f->chunked_last = false;
    if (f->chunked_seen) f->te_bad = true; /* chunked must be the final coding */
    f->te_unsupported = true;
    return true;
}

/* Headers a client must not make hop-by-hop: framing, routing and identity. */
static bool
forbidden_nomination(struct slice e)
{
    static const char *const names[] = {"host",
                                        "content-length",
                                        "transfer-encoding",
                                        "x-forwarded-for",
                                        "x-forwarded-proto",
                                        "x-forwarded-host",
                                        "forwarded",
                                        "x-request-id"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (slice_ieq(e, names[i])) return true;
    return e.len >= 8 && slice_ieq(slice_make(e.ptr, 8), "x-envoy-");
}

static bool
connection_element(struct slice e, void *arg)
{
    struct framing *f = arg;
    if (slice_ieq(e, "close"))
        f->conn_close = true;
    else if (slice_ieq(e, "keep-alive"))
        f->conn_keep_alive = true;
    else if (slice_ieq(e, "upgrade"))
        f->conn_upgrade = true;
    else if (forbidden_nomination(e))
        f->conn_forbidden = true;
    return true;
}

static ssize_t
read_framing(struct h1_head *h, const struct h1_limits *lim, int status, struct framing *f)
{
    memset(f, 0, sizeof(*f));
    f->lim = lim;
    h->has_connection = false;
    for (size_t i = 0; i < h->n_headers; i++) {
        const struct h1_header *hd = &h->headers[i];
        struct slice n = hd->name;
        if (slice_ieq(n, "content-length")) {
            if (!each_element(hd->value, cl_element, f) || f->cl_bad)
                return bad(h, status, "invalid Content-Length");
        } else if (slice_ieq(n, "transfer-encoding")) {
            f->have_te = true;
            if (!each_element(hd->value, te_element, f) || f->te_bad)
                return bad(h, status, "invalid Transfer-Encoding");
        } else if (slice_ieq(n, "connection")) {
            h->has_connection = true;
            if (!each_element(hd->value, connection_element, f))
                return bad(h, status, "invalid Connection");
            if (f->conn_forbidden)
                return bad(h, status, "Connection names a header that must not be removed");
        } else if (slice_ieq(n, "host")) {
            f->hosts++;
            f->host = hd->value;
        } else if (slice_ieq(n, "upgrade")) {
            f->have_upgrade = true;
        }
    }
    if (f->have_te && f->have_cl)
        return bad(h, status, "both Content-Length and Transfer-Encoding");
    if (f->have_te && !f->chunked_last) {
        if (f->te_unsupported && !f->chunked_seen)
            return bad(h, status == 400 ? 501 : status, "unsupported transfer coding");
        return bad(h, status, "chunked is not the final transfer coding");
    }
    if (f->have_te && f->te_unsupported)
        return bad(h, status == 400 ? 501 : status, "unsupported transfer coding");
    if (f->cl_too_big) return bad(h, status == 400 ? 413 : status, "Content-Length too large");
    h->upgrade = f->conn_upgrade && f->have_upgrade;
    h->keep_alive = h->minor == 1 ? !f->conn_close : (f->conn_keep_alive && !f->conn_close);
    return 0;
}

/* RFC 3986 host [":" port]: reg-name, IPv4 or [IP-literal]; no userinfo. */
static bool
valid_authority(struct slice a)
{
    if (a.len == 0) return false;
    size_t i = 0;
    if (a.ptr[0] == '[') {
        while (i < a.len && a.ptr[i] != ']') {
            char c = a.ptr[i];
            if (i && !(tchar[(unsigned char)c] || c == ':' || c == '.')) return false;
            i++;
        }
        if (i == a.len) return false;
        i++;
    } else {
        while (i < a.len && a.ptr[i] != ':') {
            if (!regname_char[(unsigned char)a.ptr[i]]) return false;
            i++;
        }
        if (i == 0) return false;
    }
    if (i == a.len) return true;
    if (a.ptr[i] != ':') return false;
    for (i++; i < a.len; i++)
        if (a.ptr[i] < '0' || a.ptr[i] > '9') return false;
    return true;
}

static ssize_t
parse_version(const char *p, size_t n, int status, struct h1_head *h)
{
    if (n != 8 || memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1')) {
        if (n == 8 && !memcmp(p, "HTTP/", 5) && p[5] >= '0' && p[5] <= '9' && p[6] == '.' &&
            p[7] >= '0' && p[7] <= '9')
            return bad(h, status == 400 ? 505 : status, "unsupported HTTP version");
        return bad(h, status, "invalid HTTP version");
    }
    h->minor = p[7] - '0';
    return 0;
}

static ssize_t
parse_request_line(const char *p, size_t n, const struct h1_limits *lim, struct h1_request *r)
{
    struct h1_head *h = &r->head;
    size_t i = 0;
    while (i < n && tchar[(unsigned char)p[i]]) i++;
    if (i == 0 || i == n || p[i] != ' ') return bad(h, 400, "invalid request line");
    if (i > lim->max_method_len) return bad(h, 501, "method too long");
    r->method = slice_make(p, i);
    size_t t = i + 1;
    size_t e = t;
    while (e < n && p[e] != ' ') {
        unsigned char c = (unsigned char)p[e];
        if (c < 0x21 || c > 0x7e || c == '#') return bad(h, 400, "invalid request target");
        e++;
    }
    if (e == t || e == n) return bad(h, 400, "invalid request line");
    r->target = slice_make(p + t, e - t);
    return parse_version(p + e + 1, n - e - 1, 400, h);
}

/* Split the target into authority and path by its form (RFC 9112 §3.2). */
static ssize_t
classify_target(struct h1_request *r, struct framing *f)
{
    struct h1_head *h = &r->head;
    struct slice t = r->target;
    bool connect = slice_eq(r->method, "CONNECT");
    if (connect) {
        if (!valid_authority(t)) return bad(h, 400, "invalid authority-form target");
        r->authority = t;
        r->path = slice_make(t.ptr + t.len, 0);
        return 0;
    }
    if (t.ptr[0] == '/') {
        r->path = t;
    } else if (slice_eq(t, "*")) {
        if (!slice_eq(r->method, "OPTIONS")) return bad(h, 400, "asterisk-form without OPTIONS");
        r->path = t;
    } else {
        size_t skip = 0;
        if (t.len > 7 && slice_ieq(slice_make(t.ptr, 7), "http://"))
            skip = 7;
        else if (t.len > 8 && slice_ieq(slice_make(t.ptr, 8), "https://"))
            skip = 8;
        if (!skip) return bad(h, 400, "invalid request target");
        size_t a = skip, e = skip;
        while (e < t.len && t.ptr[e] != '/' && t.ptr[e] != '?') e++;
        struct slice auth = slice_make(t.ptr + a, e - a);
        if (!valid_authority(auth)) return bad(h, 400, "invalid authority in absolute-form target");
        /* A proxy ignores the received Host and uses the target's (RFC 9112 §3.2.2). */
        r->authority = auth;
        r->path = e < t.len ? slice_make(t.ptr + e, t.len - e) : SLICE_LIT("/");
        if (f->hosts > 1) return bad(h, 400, "several Host header fields");
        return 0;
    }
    if (f->hosts > 1) return bad(h, 400, "several Host header fields");
    if (f->hosts == 0) {
        if (h->minor == 1) return bad(h, 400, "missing Host header");
        r->authority = slice_make(t.ptr, 0);
        return 0;
    }
    if (!valid_authority(f->host)) return bad(h, 400, "invalid Host header");
    r->authority = f->host;
    return 0;
}

ssize_t
h1_parse_request(const char *buf, size_t len, const struct h1_limits *lim, struct h1_request *r)
{
    memset(r, 0, offsetof(struct h1_request, head));
    struct h1_head *h = &r->head;
    h->n_headers = 0;
    h->status = 0;
    h->error = NULL;
    h->body = H1_BODY_NONE;
    h->content_length = 0;

    /* RFC 9112 §2.2: ignore empty lines before the request line. */
    size_t pos = 0;
    while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n')) {
        if (buf[pos] == '\r') {
            if (pos + 1 >= len) return H1_NEED_MORE;
            if (buf[pos + 1] != '\n') return bad(h, 400, "bare CR");
            pos += 2;
        } else {
            if (!lim->lenient_lf) return bad(h, 400, "bare LF as line end");
            pos++;
        }
        if (pos > 64) return bad(h, 400, "too many empty lines before the request");
    }
    ssize_t end = scan_head(buf, len, pos, lim, 414, 400, h);
    if (end < 0) return end;

    const char *line;
    size_t n, p = pos;
    next_line(buf, &p, (size_t)end, &line, &n);
    ssize_t rc = parse_request_line(line, n, lim, r);
    if (!rc) rc = parse_headers(buf, p, (size_t)end, lim, 400, h);
    if (rc) return rc;

    struct framing f;
    rc = read_framing(h, lim, 400, &f);
    if (rc) return rc;
    if (f.have_te && h->minor == 0) return bad(h, 400, "Transfer-Encoding in HTTP/1.0");
    rc = classify_target(r, &f);
    if (rc) return rc;
    if (f.have_te) {
        h->body = H1_BODY_CHUNKED;
    } else if (f.have_cl && f.cl > 0) {
        h->body = H1_BODY_LENGTH;
        h->content_length = f.cl;
    }
    const struct h1_header *expect = h1_header_find(h, "expect");
    r->expect_continue = expect && slice_ieq(expect->value, "100-continue") && h->minor == 1;
    return end;
}

ssize_t
h1_parse_response(const char *buf, size_t len, const struct h1_limits *lim, bool head_request,
                  struct h1_response *r)
{
    memset(r, 0, offsetof(struct h1_response, head));
    struct h1_head *h = &r->head;
    h->n_headers = 0;
    h->status = 0;
    h->error = NULL;
    h->body = H1_BODY_NONE;
    h->content_length = 0;

    ssize_t end = scan_head(buf, len, 0, lim, 502, 502, h);
    if (end < 0) return end;
    const char *line;
    size_t n, p = 0;
    next_line(buf, &p, (size_t)end, &line, &n);
    if (n < 12 || line[8] != ' ') return bad(h, 502, "invalid status line");
    ssize_t rc = parse_version(line, 8, 502, h);
    if (rc) return rc;
    for (int i = 9; i < 12; i++)
        if (line[i] < '0' || line[i] > '9') return bad(h, 502, "invalid status code");
    r->code = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (r->code < 100) return bad(h, 502, "invalid status code");
    if (n > 12) {
        if (line[12] != ' ') return bad(h, 502, "invalid status line");
        for (size_t i = 13; i < n; i++)
            if (!value_char((unsigned char)line[i])) return bad(h, 502, "invalid reason phrase");
        r->reason = slice_make(line + 13, n - 13);
    }
    rc = parse_headers(buf, p, (size_t)end, lim, 502, h);
    if (rc) return rc;

    struct framing f;
    rc = read_framing(h, lim, 502, &f);
    if (rc) return rc;
    /* RFC 9112 §6.3: these responses end at the head, whatever the headers say. */
    if (head_request || r->code < 200 || r->code == 204 || r->code == 304) {
        h->body = H1_BODY_NONE;
    } else if (f.have_te) {
        h->body = H1_BODY_CHUNKED;
    } else if (f.have_cl) {
        h->body = f.cl ? H1_BODY_LENGTH : H1_BODY_NONE;
        h->content_length = f.cl;
    } else {
        h->body = H1_BODY_UNTIL_CLOSE;
        h->keep_alive = false;
    }
    return end;
}

/* ---- chunked bodies ---- */

enum {
    CH_SIZE_START,
    CH_SIZE,
    CH_SIZE_BWS,
    CH_EXT,
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START,
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,
    CH_FINAL_LF,
    CH_DONE,
    CH_ERROR,
};

void
h1_chunked_init(struct h1_chunked *c, const struct h1_limits *lim)
{
    memset(c, 0, sizeof(*c));
    c->lim = lim;
    c->state = CH_SIZE_START;
}

void
h1_chunked_keep_trailers(struct h1_chunked *c)
{
    c->keep_trailers = true;
}

size_t
h1_trailer_fields(struct slice t, struct h1_header *out, size_t max)
{
    size_t n = 0, i = 0;
    while (i < t.len && n < max) {
        const char *line = t.ptr + i;
        const char *end = memchr(line, '\n', t.len - i);
        size_t len = end ? (size_t)(end - line) + 1 : t.len - i;
        i += len;
        const char *colon = memchr(line, ':', len);
        if (!colon) continue;
        struct slice v = slice_make(colon + 1, len - (size_t)(colon + 1 - line));
        while (v.len && (v.ptr[0] == ' ' || v.ptr[0] == '\t')) v = slice_make(v.ptr + 1, v.len - 1);
        while (v.len && (v.ptr[v.len - 1] == '\n' || v.ptr[v.len - 1] == '\r' ||
                         v.ptr[v.len - 1] == ' ' || v.ptr[v.len - 1] == '\t'))
            v.len--;
        out[n++] = (struct h1_header){slice_make(line, (size_t)(colon - line)), v};
    }
    return n;
}

bool
h1_chunked_done(const struct h1_chunked *c)
{
    return c->state == CH_DONE;
}

static ssize_t
chunk_bad(struct h1_chunked *c, int status, const char *error)
{
    c->state = CH_ERROR;
    c->status = status;
    c->error = error;
    return H1_BAD;
}

static int
hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

ssize_t
h1_chunked_parse(struct h1_chunked *c, const char *buf, size_t len, struct slice *data)
{
    *data = slice_make(buf, 0);
    size_t i = 0;
    /* A kept trailer section starts at buf[0], its first <held> bytes already checked (when
     * offered again whole; else it is checked again from its start). */
    size_t trailer_start = 0;
    if (c->held && c->held <= len) {
        i = c->held;
    } else if (c->held) {
        c->state = CH_TRAILER_START;
        c->trailer_bytes = 0;
    }
    c->held = 0;
    while (i < len) {
        unsigned char ch = (unsigned char)buf[i];
        switch (c->state) {
        case CH_SIZE_START:
        case CH_SIZE: {
            int v = hex_value(ch);
            if (v >= 0) {
                if (c->digits || v) c->digits++;
                if (c->digits > 16) return chunk_bad(c, 400, "chunk size too long");
                c->remaining = c->remaining * 16 + (uint64_t)v;
                c->state = CH_SIZE;
            } else if (c->state == CH_SIZE_START) {
                return chunk_bad(c, 400, "invalid chunk size");
            } else if (ch == ';') {
                c->state = CH_EXT;
            } else if (ch == ' ' || ch == '\t') {
                c->state = CH_SIZE_BWS;
            } else if (ch == '\r') {
                c->state = CH_SIZE_LF;
            } else {
                return chunk_bad(c, 400, "invalid chunk size");
            }
            i++;
            break;
        }
        case CH_SIZE_BWS:
            /* BWS is allowed only before a chunk extension (RFC 9112 §7.1.1). */
            if (ch == ';')
                c->state = CH_EXT;
            else if (ch != ' ' && ch != '\t')
                return chunk_bad(c, 400, "invalid chunk size");
            i++;
            break;
        case CH_EXT:
            if (ch == '\r') {
                c->state = CH_SIZE_LF;
            } else if (!value_char(ch)) {
                return chunk_bad(c, 400, "control character in chunk extension");
            } else if (++c->ext_bytes > c->lim->max_chunk_ext_bytes) {
                return chunk_bad(c, 400, "chunk extensions too long");
            }
            i++;
            break;
        case CH_SIZE_LF:
            if (ch != '\n') return chunk_bad(c, 400, "bare CR in chunk size line");
            i++;
            if (c->remaining > c->lim->max_content_length - c->total)
                return chunk_bad(c, 413, "chunked body too large");
            c->total += c->remaining;
            c->state = c->remaining ? CH_DATA : CH_TRAILER_START;
            trailer_start = i;
            break;
        case CH_DATA: {
            size_t n = len - i;
            if (n > c->remaining) n = (size_t)c->remaining;
            *data = slice_make(buf + i, n);
            c->remaining -= n;
            if (!c->remaining) c->state = CH_DATA_CR;
            return (ssize_t)(i + n);
        }
        case CH_DATA_CR:
            if (ch != '\r') return chunk_bad(c, 400, "missing CRLF after chunk data");
            c->state = CH_DATA_LF;
            i++;
            break;
        case CH_DATA_LF:
            if (ch != '\n') return chunk_bad(c, 400, "missing CRLF after chunk data");
            c->state = CH_SIZE_START;
            c->digits = 0;
            c->remaining = 0;
            i++;
            break;
        case CH_TRAILER_START:
            if (ch == '\r') {
                c->state = CH_FINAL_LF;
            } else if (tchar[ch]) {
                c->state = CH_TRAILER_NAME;
            } else {
                return chunk_bad(c, 400, "invalid trailer field");
            }
            i++;
            c->trailer_bytes++;
            break;
        case CH_TRAILER_NAME:
            if (ch == ':')
                c->state = CH_TRAILER_VALUE;
            else if (!tchar[ch])
                return chunk_bad(c, 400, "invalid trailer field name");
            i++;
            c->trailer_bytes++;
            break;
        case CH_TRAILER_VALUE:
            if (ch == '\r')
                c->state = CH_TRAILER_LF;
            else if (!value_char(ch))
                return chunk_bad(c, 400, "control character in trailer");
            i++;
            c->trailer_bytes++;
            break;
        case CH_TRAILER_LF:
            if (ch != '\n') return chunk_bad(c, 400, "bare CR in trailer");
            c->state = CH_TRAILER_START;
            i++;
            break;
        case CH_FINAL_LF:
            if (ch != '\n') return chunk_bad(c, 400, "bare CR after the last chunk");
            c->state = CH_DONE;
            if (c->keep_trailers && i > trailer_start)
                c->trailers = slice_make(buf + trailer_start, i - 1 - trailer_start);
            return (ssize_t)(i + 1);
        case CH_DONE: return (ssize_t)i;
        default: return H1_BAD;
        }
        if (c->trailer_bytes > c->lim->max_trailer_bytes)
            return chunk_bad(c, 431, "trailer section too large");
    }
    if (c->keep_trailers && c->state >= CH_TRAILER_START && c->state <= CH_FINAL_LF) {
        c->held = i - trailer_start; /* checked, not consumed: offered again */
        return (ssize_t)trailer_start;
    }
    return (ssize_t)i;
}
