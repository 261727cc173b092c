/* SPDX-License-Identifier: Apache-2.0 */
/* The TCP codec: a connection on a TCP or TLS-passthrough listener. It reads the TLS
 * ClientHello's SNI first when the listener routes on it, picks the route (VirtualService
 * tcp / tls), the weighted destination (per connection, smooth), the endpoint (the pool's
 * balancer; useSourceIp hashes the client address) and connects, trying another endpoint
 * after a connect failure; then relays bytes (tunnel.h) till either side ends. [W] */
#ifndef MESHLET_HTTP_TCP_CONN_H
#define MESHLET_HTTP_TCP_CONN_H

#include <stdbool.h>
#include <sys/socket.h>

struct worker;
struct model_listener;
struct tls_conn;

/* Take <fd>, accepted on TCP or TLS listener <ml> from <peer>; <tls> is the TLS the
 * listener terminates (Gateway SIMPLE/MUTUAL, or inbound mTLS), begun, or NULL; <sniff>:
 * a PERMISSIVE inbound port, where the first byte says mTLS or plain. Closed on failure. */
void tcp_conn_accept(struct worker *wk, const struct model_listener *ml, int fd,
                     const struct sockaddr_storage *peer, struct tls_conn *tls, bool sniff);

#endif
