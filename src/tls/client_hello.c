/* SPDX-License-Identifier: Apache-2.0 */
#include "tls/client_hello.h"

#include <stdbool.h>
#include <string.h>

/* A cursor over the handshake bytes. */
struct rd {
    const uint8_t *p;
    size_t n;
    bool bad;
};

static uint32_t
take(struct rd *r, size_t k)
{
    uint32_t v = 0;
    if (r->bad || r->n < k) {
        r->bad = true;
        return 0;
    }
    for (size_t i = 0; i < k; i++) v = v << 8 | r->p[i];
    r->p += k;
    r->n -= k;
    return v;
}

static void
skip(struct rd *r, size_t k)
{
    if (r->bad || r->n < k) {
        r->bad = true;
        return;
    }
    r->p += k;
    r->n -= k;
}

/* The server_name extension's body: the first host_name entry. */
static enum client_hello
server_name(struct rd e, char *sni, size_t cap)
{
    uint32_t list = take(&e, 2);
    if (e.bad || list > e.n) return CLIENT_HELLO_NOT_TLS;
    e.n = list;
    while (e.n && !e.bad) {
        uint32_t type = take(&e, 1), len = take(&e, 2);
        if (e.bad || len > e.n) return CLIENT_HELLO_NOT_TLS;
        if (type == 0) {
            if (!len || len >= cap) return CLIENT_HELLO_NOT_TLS;
            for (uint32_t i = 0; i < len; i++) {
                uint8_t ch = e.p[i];
                if (ch <= 0x20 || ch >= 0x7f) return CLIENT_HELLO_NOT_TLS;
                sni[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
            }
            sni[len] = '\0';
            return CLIENT_HELLO_DONE;
        }
        skip(&e, len);
    }
    return e.bad ? CLIENT_HELLO_NOT_TLS : CLIENT_HELLO_DONE;
}

/* A whole ClientHello body (after the 4-byte handshake header). */
static enum client_hello
hello(struct rd r, char *sni, size_t cap)
{
    skip(&r, 2 + 32);      /* legacy_version, random */
    skip(&r, take(&r, 1)); /* session id */
    skip(&r, take(&r, 2)); /* cipher suites */
    skip(&r, take(&r, 1)); /* compression methods */
    if (r.bad) return CLIENT_HELLO_NOT_TLS;
    if (!r.n) return CLIENT_HELLO_DONE; /* no extensions: no name */
    uint32_t ext = take(&r, 2);
    if (r.bad || ext > r.n) return CLIENT_HELLO_NOT_TLS;
    r.n = ext;
    while (r.n) {
        uint32_t type = take(&r, 2), len = take(&r, 2);
        if (r.bad || len > r.n) return CLIENT_HELLO_NOT_TLS;
        if (type == 0) return server_name((struct rd){r.p, len, false}, sni, cap);
        skip(&r, len);
    }
    return CLIENT_HELLO_DONE;
}

enum client_hello
client_hello_sni(const uint8_t *p, size_t n, char *sni, size_t cap)
{
    /* The handshake message, gathered from the records' payloads. */
    static _Thread_local uint8_t hs[CLIENT_HELLO_MAX];
    size_t have = 0, need = 0;
    if (cap) sni[0] = '\0';
    while (n) {
        if (n < 5) return CLIENT_HELLO_MORE;
        /* handshake record, TLS 1.0..1.3 record versions (3.1 to 3.4; 3.0 is SSL 3) */
        if (p[0] != 22 || p[1] != 3) return CLIENT_HELLO_NOT_TLS;
        size_t len = (size_t)p[3] << 8 | p[4];
        if (!len || len > 16384 + 2048) return CLIENT_HELLO_NOT_TLS;
        size_t got = n - 5 < len ? n - 5 : len;
        if (have + got > sizeof(hs)) return CLIENT_HELLO_NOT_TLS;
        memcpy(hs + have, p + 5, got);
        have += got;
        if (!need && have >= 4) {
            if (hs[0] != 1) return CLIENT_HELLO_NOT_TLS; /* not a ClientHello */
            need = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
            if (need > sizeof(hs)) return CLIENT_HELLO_NOT_TLS;
        }
        if (need && have >= need) return hello((struct rd){hs + 4, need - 4, false}, sni, cap);
        if (got < len) return CLIENT_HELLO_MORE;
        p += 5 + len;
        n -= 5 + len;
    }
    return CLIENT_HELLO_MORE;
}
