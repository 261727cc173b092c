/* SPDX-License-Identifier: Apache-2.0 */
/* /listeners: the address each listener binds is the one the workers use (http/worker.c
 * listen_for): the mesh listener's own, a mesh service port's IP with its own port, else
 * --listen-address with the listener's port; and what it speaks (http, tcp, tls: SNI
 * passthrough), in the text form only after L4 listeners so HTTP lines stay Envoy's. */
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
        if (ml->mesh && !ml->service_port) port = ntohs(v6->sin6_port);
    } else {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &v4->sin_addr, ip, (socklen_t)cap);
        if (ml->mesh && !ml->service_port) port = ntohs(v4->sin_port);
    }
    return port;
}

const char *
listeners_kind_name(const struct model_listener *ml)
{
    switch (ml->kind) {
    case MODEL_LISTENER_TCP: return "tcp";
    case MODEL_LISTENER_TLS: return "tls";
    default: return "http";
    }
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
            strbuf_printf(sb, ",\"port_value\":%u}},\"kind\":\"%s\"}", port,
                          listeners_kind_name(ml));
        } else {
            strbuf_printf(sb, v6 ? "%s::[%s]:%u" : "%s::%s:%u", ml->name, ip, port);
            if (ml->kind != MODEL_LISTENER_HTTP)
                strbuf_printf(sb, " %s%s", listeners_kind_name(ml),
                              ml->auto_passthrough ? " auto_passthrough" : "");
            strbuf_puts(sb, "\n");
        }
    }
    if (json) strbuf_puts(sb, "]}");
}
