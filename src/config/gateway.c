/* SPDX-License-Identifier: Apache-2.0 */
/* Gateway: decoding tables and Istio's per-resource validation (ValidateGateway). */
#include "config/gateway.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/field.h"
#include "config/rules.h"

FIELD_SCHEMA(server_tls_cert, RES_SERVER_TLS_CERT)
FIELD_SCHEMA(server_tls, RES_SERVER_TLS)
FIELD_SCHEMA(server, RES_SERVER)
FIELD_SCHEMA(gateway, RES_GATEWAY)

static bool
is_http(const char *p)
{
    return !strcasecmp(p, "HTTP") || !strcasecmp(p, "HTTP2") || !strcasecmp(p, "GRPC") ||
           !strcasecmp(p, "GRPC-WEB");
}

static bool
is_tls(const char *p)
{
    return !strcasecmp(p, "HTTPS") || !strcasecmp(p, "TLS");
}

static void
validate_server_host(struct vctx *v, const struct server *s, size_t i, const char *h)
{
    const char *slash = strchr(h, '/');
    const char *dns = h;
    if (slash) {
        size_t nl = (size_t)(slash - h);
        if (nl == 0 || !slash[1]) {
            rules_error(v, s, "hosts", (int)i, "write <namespace>/<host>",
                        "config namespace and dnsName in host entry cannot be empty");
            return;
        }
        char ns[256];
        snprintf(ns, sizeof(ns), "%.*s", (int)nl, h);
        if (strcmp(ns, "*") && strcmp(ns, ".") && !rules_dns1123_label(ns)) {
            rules_error(v, s, "hosts", (int)i, "use *, . or a namespace name",
                        "invalid namespace value \"%s\" in gateway", ns);
        }
        dns = slash + 1;
    }
    if (!strcmp(dns, "*")) return;
    if (!strchr(dns, '.')) {
        rules_error(v, s, "hosts", (int)i, "write the fully qualified name",
                    "short names (non FQDN) are not allowed");
        return;
    }
    if (dns[0] == '*' && dns[1] != '.') {
        rules_error(v, s, "hosts", (int)i, "use a whole leading label: *.example.com",
                    "partial wildcard \"%s\" not allowed", dns);
        return;
    }
    if (!rules_is_ip(dns)) {
        const char *err = rules_wildcard_domain(dns);
        if (err) rules_error(v, s, "hosts", (int)i, RULES_DNS_HINT, "%s", err);
    }
}

static void
validate_tls(struct vctx *v, const struct server *s, const char *proto)
{
    const struct server_tls *t = s->tls;
    bool http = proto && is_http(proto);
    bool tls_proto = proto && is_tls(proto);
    if (!t) {
        if (tls_proto)
            rules_error(v, s, "tls", -1, "add tls settings (mode and certificates)",
                        "server must have TLS settings for HTTPS/TLS protocols");
        return;
    }
    bool redirect_only = t->https_redirect.v && !t->mode.set && !t->server_certificate &&
                         !t->private_key && !t->ca_certificates && !t->credential_name;
    if (http && !redirect_only) {
        rules_error(v, s, "tls", -1, "use protocol HTTPS for TLS, or keep only httpsRedirect",
                    "server cannot have TLS settings for plain text HTTP ports");
    } else if (proto && !http && !tls_proto) {
        rules_error(v, s, "tls", -1, "remove tls, or use HTTPS/TLS",
                    "server cannot have TLS settings for non HTTPS/TLS ports");
    }
    if (t->https_redirect.v && !http) {
        rules_warn(v, t, "httpsRedirect", -1, "set it on the plain HTTP server",
                   "tls.httpsRedirect should only be used with http servers");
    }
    int mode = t->mode.set ? t->mode.v : SRV_PASSTHROUGH;
    int sources = (t->credential_name != NULL) + (t->credential_names.len > 0) +
                  (t->server_certificate != NULL || t->private_key != NULL) +
                  (t->tls_certificates_len > 0);
    if (sources > 1) {
        rules_error(v, t, NULL, -1, "keep one way of giving the certificate",
                    "only one of credential_name, credential_names, "
                    "server_certificate/private_key, tls_certificates should be specified");
    }
    if (mode == SRV_ISTIO_MUTUAL) {
        static const struct {
            size_t off;
            const char *what, *key;
        } none[] = {
            {offsetof(struct server_tls, server_certificate), "server certificate",
             "serverCertificate"},
            {offsetof(struct server_tls, private_key), "private key", "privateKey"},
            {offsetof(struct server_tls, ca_certificates), "CA bundle", "caCertificates"},
            {offsetof(struct server_tls, credential_name), "credentialName", "credentialName"},
        };
        for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
            if (*(const char *const *)((const char *)t + none[i].off))
                rules_error(v, t, none[i].key, -1, "ISTIO_MUTUAL uses the mesh identity",
                            "ISTIO_MUTUAL TLS cannot have associated %s", none[i].what);
        }
        if (t->credential_names.len)
            rules_error(v, t, "credentialNames", -1, "ISTIO_MUTUAL uses the mesh identity",
                        "ISTIO_MUTUAL TLS cannot have associated credentialNames");
        if (t->tls_certificates_len)
            rules_error(v, t, "tlsCertificates", -1, "ISTIO_MUTUAL uses the mesh identity",
                        "ISTIO_MUTUAL TLS cannot have associated tlsCertificates");
    }
    bool has_cred = t->credential_name || t->credential_names.len || t->tls_certificates_len;
    if (mode == SRV_SIMPLE && !has_cred) {
        if (!t->server_certificate)
            rules_error(v, t, "serverCertificate", -1, "give serverCertificate or credentialName",
                        "SIMPLE TLS requires a server certificate");
        if (!t->private_key)
            rules_error(v, t, "privateKey", -1, "give privateKey or credentialName",
                        "SIMPLE TLS requires a private key");
        if (t->ca_crl)
            rules_error(v, t, "caCrl", -1, "CRLs apply to client certificates (MUTUAL)",
                        "CRL is not supported with SIMPLE TLS");
    }
    if ((mode == SRV_MUTUAL || mode == SRV_OPTIONAL_MUTUAL) && !has_cred) {
        if (!t->server_certificate)
            rules_error(v, t, "serverCertificate", -1, "give serverCertificate or credentialName",
                        "MUTUAL TLS requires a server certificate");
        if (!t->private_key)
            rules_error(v, t, "privateKey", -1, "give privateKey or credentialName",
                        "MUTUAL TLS requires a private key");
        if (!t->ca_certificates)
            rules_error(v, t, "caCertificates", -1, "give the CA that signs client certificates",
                        "MUTUAL TLS requires a client CA bundle");
    }
    if (t->credential_name && t->ca_crl)
        rules_error(v, t, "caCrl", -1, "put the CRL in the credential",
                    "CRL is not supported with credentialName. CRL has to be specified in the "
                    "credential");
    if ((mode == SRV_PASSTHROUGH || mode == SRV_AUTO_PASSTHROUGH) && t->mode.set &&
        (t->server_certificate || t->private_key || t->ca_certificates || t->credential_name))
        rules_warn(v, t, "mode", -1, "remove the certificate fields",
                   "%s mode does not use certificates, they will be ignored",
                   server_tls_mode_names[mode]);
    if (t->min_protocol_version.set && t->min_protocol_version.v != TLS_AUTO &&
        t->min_protocol_version.v < TLSV1_2 && t->cipher_suites.len == 0)
        rules_warn(v, t, "minProtocolVersion", -1, "list cipherSuites that TLS 1.0/1.1 can use",
                   "TLS version below TLSV1_2 require setting compatible ciphers as by default "
                   "they no longer include compatible ciphers.");
}

void
gateway_validate(const struct resource *r, struct diag_list *dl)
{
    struct vctx v = {dl, r};
    const struct gateway *gw = r->spec.gw;
    if (!rules_dns1123_label(r->name)) {
        rules_error(&v, NULL, NULL, -1, "a Gateway name is a DNS-1123 label (no dots)",
                    "invalid gateway name: \"%s\"", r->name);
    }
    if (gw->servers_len == 0) {
        rules_error(&v, gw, "servers", -1, "add at least one server (port, hosts)",
                    "gateway must have at least one server");
    }
    for (size_t i = 0; i < gw->servers_len; i++) {
        const struct server *s = &gw->servers[i];
        if (field_is_null(s)) {
            rules_error(&v, s, NULL, -1, "remove the empty item", "server may not be nil");
            continue;
        }
        if (s->hosts.len == 0)
            rules_error(&v, s, "hosts", -1, "list the hosts this server accepts, or \"*\"",
                        "server config must contain at least one host");
        for (size_t j = 0; j < s->hosts.len; j++) validate_server_host(&v, s, j, s->hosts.v[j]);
        const char *proto = NULL;
        if (!s->port) {
            rules_error(&v, s, "port", -1, "add port: {number, name, protocol}",
                        "port is required");
        } else {
            const struct service_port *p = s->port;
            bool uds = s->bind && !strncmp(s->bind, "unix://", 7);
            if (uds) {
                if (p->number.v != 0)
                    rules_error(&v, p, "number", -1, "use port 0 with a unix socket bind",
                                "port number must be 0 for unix domain socket: %" PRId64,
                                p->number.v);
            } else {
                rules_port(&v, p, "number", p->number.v);
            }
            if (!p->name || !*p->name)
                rules_error(&v, p, "name", -1, "name the port, e.g. http",
                            "port name must be set: %s", "");
            if (!p->protocol || !rules_known_protocol(p->protocol)) {
                rules_error(&v, p, "protocol", -1, "use one of the protocols listed",
                            "invalid protocol \"%s\", supported protocols are HTTP, HTTP2, GRPC, "
                            "GRPC-WEB, MONGO, REDIS, MYSQL, TCP",
                            p->protocol ? p->protocol : "");
            } else {
                proto = p->protocol;
            }
            if (p->target_port.set)
                rules_warn(&v, p, "targetPort", -1, "remove targetPort",
                           "targetPort has no impact on Gateways");
            for (size_t j = 0; j < i && p->name; j++) {
                const struct server *o = &gw->servers[j];
                if (!field_is_null(o) && o->port && o->port->name &&
                    !strcmp(o->port->name, p->name)) {
                    rules_error(&v, p, "name", -1, "give each server port its own name",
                                "port names in servers must be unique: duplicate name %s", p->name);
                    break;
                }
            }
        }
        if (s->bind && strncmp(s->bind, "unix://", 7) && !rules_is_ip(s->bind))
            rules_error(&v, s, "bind", -1, "bind to an IP or unix:///path", "%s is not a valid IP",
                        s->bind);
        validate_tls(&v, s, proto);
    }
    rules_labels(&v, gw, "selector", &gw->selector);
}
