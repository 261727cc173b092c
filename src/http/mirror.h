/* SPDX-License-Identifier: Apache-2.0 */
/* Mirroring (VirtualService mirror / mirrors, spec §3.10): a copy of a request goes to the
 * mirror's pool, its response is read and dropped, and the client never waits for it. [W] */
#ifndef MESHLET_HTTP_MIRROR_H
#define MESHLET_HTTP_MIRROR_H

struct req;
struct req_head;
struct shadow;
struct worker;
struct model_cluster;

/* A copy of request <q> (head <h>; NULL: a body request, whose
 * head and body <q> kept) to a pool of <cl>, response dropped; the client never waits.
 * Every shadow is closed by mirror_close_all() when the worker ends. */
void mirror_start(struct req *q, const struct req_head *h, const struct model_cluster *cl);
void mirror_io(struct shadow *s);
void mirror_close_all(struct worker *wk);

#endif
