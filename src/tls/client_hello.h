/* SPDX-License-Identifier: Apache-2.0 */
/* The server name a TLS client asks for, read from its ClientHello before any byte is
 * answered (Envoy's tls_inspector): TLS passthrough routes on it without terminating. The
 * hello may span several records; nothing is decrypted. [A] */
#ifndef MESHLET_TLS_CLIENT_HELLO_H
#define MESHLET_TLS_CLIENT_HELLO_H

#include <stddef.h>
#include <stdint.h>

/* The largest ClientHello we wait for (Envoy's tls_inspector reads up to 64 KiB too). */
#define CLIENT_HELLO_MAX 65536

enum client_hello {
    CLIENT_HELLO_MORE = 0,     /* incomplete: read more */
    CLIENT_HELLO_DONE = 1,     /* parsed: <sni> holds the name, or "" when none was sent */
    CLIENT_HELLO_NOT_TLS = -1, /* not a TLS handshake, or malformed */
};

/* Parse the first <n> bytes a client sent. The name is lower-cased into <sni> (<cap>
 * bytes; a longer name is malformed). */
enum client_hello client_hello_sni(const uint8_t *p, size_t n, char *sni, size_t cap);

#endif
