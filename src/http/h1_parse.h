/* SPDX-License-Identifier: Apache-2.0 */
/* Strict, incremental, zero-copy HTTP/1.1 parsing (RFC 9112): request and response heads
 * with their headers as slices of the receive buffer, body framing (Content-Length,
 * chunked, until close), and a chunked-body decoder. Everything request smuggling relies on
 * is refused: ../shared/spec/http1-strictness.md is the contract, row by row. [W] */
#ifndef MESHLET_HTTP_H1_PARSE_H
#define MESHLET_HTTP_H1_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/slice.h"

/* Negative results of the parse functions. */
#define H1_NEED_MORE (-1) /* the head is not complete yet: call again with more bytes */
#define H1_BAD (-2)       /* the message is invalid: see status and error */

/* Capacity of the header array; the configured limit may be lower, never higher. */
#define H1_MAX_HEADERS 128

struct h1_limits {
    size_t max_request_line;     /* request line (or status line) bytes; past it: 414 */
    size_t max_head_bytes;       /* whole head; past it: 431 */
    size_t max_headers;          /* header lines; past it: 431 */
    size_t max_method_len;       /* longer method: 501 */
    uint64_t max_content_length; /* Content-Length / chunked total; past it: 413 */
    size_t max_chunk_ext_bytes;  /* chunk extensions per message; past it: 400 */
    size_t max_trailer_bytes;    /* trailer section; past it: 431 */
    bool lenient_lf;             /* accept a bare LF as line end in heads (never in chunks) */
    bool reject_underscores;     /* refuse header names with '_' (Envoy allows by default) */
};

/* Fill <l> with meshlet's defaults: 16 KiB line, 64 KiB head, 100 headers, 32-byte method,
 * 1 GiB body, 4 KiB chunk extensions, 16 KiB trailers, strict LF, underscores allowed. */
void h1_limits_default(struct h1_limits *l);

struct h1_header {
    struct slice name;  /* borrowed from the receive buffer */
    struct slice value; /* borrowed; leading and trailing whitespace removed */
};

enum h1_body {
    H1_BODY_NONE,        /* no body */
    H1_BODY_LENGTH,      /* exactly content_length bytes */
    H1_BODY_CHUNKED,     /* chunked: decode with h1_chunked_parse */
    H1_BODY_UNTIL_CLOSE, /* responses only: the body ends when the connection closes */
};

/* What a parsed head says, shared by requests and responses. */
struct h1_head {
    int minor; /* HTTP/1.<minor>: 0 or 1 */
    struct h1_header headers[H1_MAX_HEADERS];
    size_t n_headers;
    enum h1_body body;
    uint64_t content_length; /* when body == H1_BODY_LENGTH */
    bool keep_alive;         /* the connection may carry another message after this one */
    bool upgrade;            /* Connection: upgrade with an Upgrade header */
    bool has_connection;     /* a Connection header is present (it may name hop-by-hop ones) */
    size_t head_len;         /* bytes of the head, blank line included */
    int status;              /* on H1_BAD: the status to answer (400, 413, 414, 431, 501, 502) */
    const char *error;       /* on H1_BAD: the rule that failed (static text) */
};

struct h1_request {
    struct slice method;    /* borrowed */
    struct slice target;    /* borrowed: the request-target as received */
    struct slice authority; /* Host, or the authority of an absolute-form target; may be empty
                             * for HTTP/1.0 */
    struct slice path;      /* path and query ("/" for absolute-form without a path) */
    bool expect_continue;   /* Expect: 100-continue */
    struct h1_head head;
};

struct h1_response {
    int code;            /* status code, 100..599 */
    struct slice reason; /* borrowed; may be empty */
    struct h1_head head;
};

/* Parse the request head at the start of <buf> (<len> bytes received so far). Returns the
 * head length (the body, if any, starts there), H1_NEED_MORE, or H1_BAD with
 * r->head.status and r->head.error set. Call again with the grown buffer after
 * H1_NEED_MORE: nothing is kept between calls. Empty lines before the request line are
 * skipped (RFC 9112 §2.2) and counted in the result. */
ssize_t h1_parse_request(const char *buf, size_t len, const struct h1_limits *lim,
                         struct h1_request *r);

/* Parse a response head. <head_request> says the request was HEAD (no body follows).
 * Errors carry status 502, as a proxy answers its client for a bad upstream response. */
ssize_t h1_parse_response(const char *buf, size_t len, const struct h1_limits *lim,
                          bool head_request, struct h1_response *r);

/* Value of the first header named <name> (case-insensitive), or NULL. */
const struct h1_header *h1_header_find(const struct h1_head *h, const char *name);

/* Chunked body decoder. */
struct h1_chunked {
    int state;
    uint64_t remaining; /* bytes left in the current chunk */
    uint64_t total;     /* body bytes so far */
    size_t digits;      /* significant hex digits of the current size */
    size_t ext_bytes;   /* chunk-extension bytes so far */
    size_t trailer_bytes;
    /* Trailers kept (h1_chunked_keep_trailers): the section is not consumed until it is
     * whole, so it lies in one buffer; <held> bytes of it are already checked. */
    bool keep_trailers;
    size_t held;
    struct slice trailers;       /* once done: the section's field lines, borrowed from <buf> */
    const struct h1_limits *lim; /* borrowed */
    int status;                  /* on H1_BAD: 400 or 413 */
    const char *error;           /* on H1_BAD: the rule that failed */
};

void h1_chunked_init(struct h1_chunked *c, const struct h1_limits *lim);

/* Decode from <buf>: returns bytes consumed (>= 0) or H1_BAD. Body bytes found at the end of
 * the consumed part are returned in <*data> (borrowed from <buf>; empty when none): call
 * again on the rest. Trailers are checked and dropped, unless kept (below). */
ssize_t h1_chunked_parse(struct h1_chunked *c, const char *buf, size_t len, struct slice *data);

/* Keep the trailer section: its bytes are consumed only once it is whole, so the caller
 * must offer what was not consumed again, followed by more (as a receive buffer does); when
 * done, c->trailers holds its field lines ("name: value\r\n" ...). */
void h1_chunked_keep_trailers(struct h1_chunked *c);

/* The fields of a checked trailer section <t> into <out> (at most <max>): how many. Names
 * and values are borrowed from <t>, values without surrounding whitespace. */
size_t h1_trailer_fields(struct slice t, struct h1_header *out, size_t max);

/* True once the last chunk and the trailer section were read. */
bool h1_chunked_done(const struct h1_chunked *c);

#endif
