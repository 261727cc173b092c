/* SPDX-License-Identifier: Apache-2.0 */
/* An nghttp2 allocator that lets an idle session give its frame buffer back. nghttp2 keeps a
 * 16 KiB buffer per session to serialize outgoing frames into, for the session's whole life:
 * two thirds of what an idle HTTP/2 connection costs. Its content is dead whenever no frame
 * is being sent, so the buffer is put on whole pages of its own and those pages are handed
 * back to the kernel (MADV_DONTNEED) once the connection has been idle a while; the next
 * frame faults them in again, zeroed, and overwrites them. [W] */
#ifndef MESHLET_HTTP_H2_MEM_H
#define MESHLET_HTTP_H2_MEM_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>

struct h2_mem {
    nghttp2_mem mem; /* given to nghttp2_session_*_new3 */
    void *frames;    /* the frame buffer, page aligned, <frames_len> bytes; NULL until made */
    size_t frames_len;
    bool catching; /* the session is being made: its first large allocation is the buffer */
    bool dirty;    /* frames were written into it since its pages last went back */
};

/* Set <m> up; pass &m->mem to the session's constructor between h2_mem_catch(m, true) and
 * h2_mem_catch(m, false). */
void h2_mem_init(struct h2_mem *m);
void h2_mem_catch(struct h2_mem *m, bool on);

/* Give the frame buffer's pages back. Only when the session has no frame in progress
 * (nghttp2_session_want_write() is 0 and nghttp2_session_mem_send() last returned 0).
 * Whether pages went back. */
bool h2_mem_shed(struct h2_mem *m);

#endif
