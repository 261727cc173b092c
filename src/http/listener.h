/* SPDX-License-Identifier: Apache-2.0 */
/* The accept path: what a listener's kind and security ask of a connection just accepted,
 * decided in one place: its transport (plain, TLS, or PERMISSIVE's sniffed first byte) and
 * its codec (HTTP/1.1 today; TCP and TLS passthrough listeners will pick theirs here). [W] */
#ifndef MESHLET_HTTP_LISTENER_H
#define MESHLET_HTTP_LISTENER_H

#include <sys/socket.h>

struct worker;
struct model_listener;

/* Hand <fd>, accepted on <ml> from <peer>, to its transport and codec; closed on failure. */
void listener_accept(struct worker *wk, const struct model_listener *ml, int fd,
                     const struct sockaddr_storage *peer);

#endif
