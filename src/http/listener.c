/* SPDX-License-Identifier: Apache-2.0 */
#include "http/listener.h"

#include <unistd.h>

#include "http/h1_int.h"
#include "http/tcp_conn.h"
#include "model/model.h"
#include "tls/conn.h"

void
listener_accept(struct worker *wk, const struct model_listener *ml, int fd,
                const struct sockaddr_storage *peer)
{
    /* TLS first: a Gateway server with SIMPLE or MUTUAL; an inbound listener by its
     * PeerAuthentication mode (§6.3): STRICT mTLS, PERMISSIVE sniffed, DISABLE plain. */
    const struct tls_gateway *gw_tls = ml->tls_ext;
    const struct tls_identity *id = worker_identity(wk);
    struct tls_conn *tls = NULL;
    bool sniff = false;
    if (gw_tls) {
        if (!(tls = tls_conn_gateway(gw_tls, fd))) goto refuse;
    } else if (ml->inbound && ml->peer_mode == MODEL_PEER_STRICT) {
        if (!id || !(tls = tls_conn_server(id, fd))) goto refuse;
    } else if (ml->inbound && ml->peer_mode == MODEL_PEER_PERMISSIVE && id) {
        sniff = true;
    }
    switch (ml->kind) {
    case MODEL_LISTENER_HTTP: h1_conn_accept(wk, ml, fd, peer, tls, sniff); return;
    case MODEL_LISTENER_TCP:
    case MODEL_LISTENER_TLS: tcp_conn_accept(wk, ml, fd, peer, tls, sniff); return;
    }
    tls_conn_free(tls);
refuse:
    close(fd);
}
