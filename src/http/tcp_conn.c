/* SPDX-License-Identifier: Apache-2.0 */
#include "http/tcp_conn.h"

#include <unistd.h>

#include "tls/conn.h"

void
tcp_conn_accept(struct worker *wk, const struct model_listener *ml, int fd,
                const struct sockaddr_storage *peer, struct tls_conn *tls)
{
    (void)wk, (void)ml, (void)peer;
    tls_conn_free(tls); /* the codec lands in the next commits */
    close(fd);
}
