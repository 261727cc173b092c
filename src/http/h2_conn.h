/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP/2 codec on one client connection (nghttp2 does the frames, HPACK and flow
 * control): each stream is a request of the request core (req.c), exactly as an HTTP/1.1
 * exchange is. [W] */
#ifndef MESHLET_HTTP_H2_CONN_H
#define MESHLET_HTTP_H2_CONN_H

#include <stdbool.h>
#include <stddef.h>

struct conn;
struct buf;

/* The connection preface a client speaking HTTP/2 with prior knowledge opens with. */
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

/* Up to <len> bytes of <b> copied to <out> and consumed (an nghttp2 read callback's
 * part both HTTP/2 codecs share): how many. */
size_t h2_buf_take(struct buf *b, unsigned char *out, size_t len);

/* Whether <n> bytes at <p> open with the preface: 1 yes, 0 no, -1 too few bytes to say. */
int h2_preface(const char *p, size_t n);

/* Take over connection <from> (its socket, transport, generation and the bytes it read,
 * <in>) as an HTTP/2 connection. <from>'s codec lets go of all of it and frees its own
 * state. 0, or -1 when out of memory (<from> is then untouched). */
int h2_conn_adopt(struct conn *from, struct buf *in);

#endif
