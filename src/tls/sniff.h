/* SPDX-License-Identifier: Apache-2.0 */
/* PERMISSIVE listeners take mesh mTLS and plain text on one port (spec §6.3): the first
 * byte a client sends tells them apart, peeked so the codec still reads it. [W] */
#ifndef MESHLET_TLS_SNIFF_H
#define MESHLET_TLS_SNIFF_H

/* SNIFF_TLS when the first byte on <fd> opens a TLS handshake record, SNIFF_PLAIN for
 * anything else, SNIFF_WAIT when nothing came yet, SNIFF_GONE when the client closed or
 * the socket failed before a byte. */
enum sniff { SNIFF_WAIT, SNIFF_TLS, SNIFF_PLAIN, SNIFF_GONE };
enum sniff sniff_first_byte(int fd);

#endif
