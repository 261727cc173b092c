/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the HTTP/1.1 parser: any bytes as a request head, a response head
 * and a chunked body, fed whole and split in two at a point the input chooses. Whatever is
 * accepted must have token names and no control byte in values. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/h1_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_head(const struct h1_head *h)
{
    for (size_t i = 0; i < h->n_headers; i++) {
        for (size_t k = 0; k < h->headers[i].value.len; k++) {
            unsigned char c = (unsigned char)h->headers[i].value.ptr[k];
            if ((c < 0x20 && c != '\t') || c == 0x7f) abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct h1_limits lim;
    h1_limits_default(&lim);
    const char *buf = (const char *)data;

    static struct h1_request req;
    ssize_t n = h1_parse_request(buf, size, &lim, &req);
    if (n > 0) {
        if ((size_t)n > size) abort();
        check_head(&req.head);
    }
    static struct h1_response resp;
    n = h1_parse_response(buf, size, &lim, size & 1, &resp);
    if (n > 0) check_head(&resp.head);

    /* Chunked: split at a point taken from the first byte. */
    struct h1_chunked c;
    h1_chunked_init(&c, &lim);
    size_t split = size ? data[0] % (size + 1) : 0;
    size_t pos = 0;
    while (pos < size && !h1_chunked_done(&c)) {
        size_t end = pos < split ? split : size;
        struct slice body;
        ssize_t rc = h1_chunked_parse(&c, buf + pos, end - pos, &body);
        if (rc < 0) break;
        if ((size_t)rc > end - pos || body.len > (size_t)rc) abort();
        if (rc == 0 && end == size) break;
        pos += (size_t)rc;
    }
    return 0;
}
