/* SPDX-License-Identifier: Apache-2.0 */
/* /listeners: the address each listener binds is the one the workers use (http/worker.c
 * listen_for): the mesh listener's own, else --listen-address with the listener's port. */
#include "admin/listeners.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "model/model.h"

/* The IP <ss> holds into <ip>, and the port: <ml>'s own unless it is the mesh listener. */
static unsigned
address_of(const struct admin *a, const struct model_listener *ml, char *ip, size_t cap)
{
    const struct sockaddr_storage *ss = ml->mesh ? &a->popt->mesh_addr : &a->popt->gateway_addr;
    unsigned port = ml->port;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, (socklen_t)cap);
        if (ml->mesh) port = ntohs(v6->sin6_port);
    } else {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &v4->sin_addr, ip, (socklen_t)cap);
        if (ml->mesh) port = ntohs(v4->sin_port);
    }
    return port;
}

void
listeners_write(const struct admin *a, struct strbuf *sb, bool json)
{
    const struct snapshot *s = a->snap;
    if (json) strbuf_puts(sb, "{\"listener_statuses\":[");
    for (size_t i = 0; i < s->n_listeners; i++) {
        const struct model_listener *ml = &s->listeners[i];
        char ip[INET6_ADDRSTRLEN] = "0.0.0.0";
        unsigned port = a->popt ? address_of(a, ml, ip, sizeof(ip)) : ml->port;
        bool v6 = strchr(ip, ':') != NULL;
        if (json) {
            strbuf_puts(sb, i ? ",{\"name\":" : "{\"name\":");
            strbuf_json_str(sb, ml->name);
            strbuf_puts(sb, ",\"local_address\":{\"socket_address\":{\"address\":");
            strbuf_json_str(sb, ip);
            strbuf_printf(sb, ",\"port_value\":%u}}}", port);
        } else {
            strbuf_printf(sb, v6 ? "%s::[%s]:%u\n" : "%s::%s:%u\n", ml->name, ip, port);
        }
    }
    if (json) strbuf_puts(sb, "]}");
}
