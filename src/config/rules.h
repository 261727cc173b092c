/* SPDX-License-Identifier: Apache-2.0 */
/* Validation rules several kinds share, with Istio's messages: DNS names and wildcards,
 * DNS-1123 labels, ports, durations, Kubernetes labels, exportTo, StringMatch. */
#ifndef MESHLET_CONFIG_RULES_H
#define MESHLET_CONFIG_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "config/diag.h"
#include "config/resource.h"

/* Who is being validated and where messages go. */
struct vctx {
    struct diag_list *dl;
    const struct resource *r;
};

/* Report at field <key> (item <index> when >= 0) of <obj> (a decoded struct; NULL for the
 * resource root). */
void rules_error(struct vctx *v, const void *obj, const char *key, int index, const char *hint,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void rules_warn(struct vctx *v, const void *obj, const char *key, int index, const char *hint,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void rules_report(struct vctx *v, enum diag_severity sev, const char *code, const void *obj,
                  const char *key, int index, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* What to change when a host fails rules_wildcard_domain(). */
#define RULES_DNS_HINT                                                                             \
    "write a DNS name: labels of letters, digits and '-', separated by dots; '*' only as "         \
    "the first label"

/* Istio's ValidateWildcardDomain: a DNS name whose first label may be "*" or "*x".
 * Returns NULL when valid, else the message (static buffer, valid until the next call). */
const char *rules_wildcard_domain(const char *host);

/* DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63. */
bool rules_dns1123_label(const char *s);

/* An IPv4 or IPv6 literal. */
bool rules_is_ip(const char *s);

/* A CIDR block "ip/len". */
bool rules_is_cidr(const char *s);

/* Port 1..65535, message "port number %d must be in the range 1..65535". */
bool rules_port(struct vctx *v, const void *obj, const char *key, int64_t port);

/* Duration >= 1ms with ms precision (Istio's ValidateDuration), when set. */
bool rules_duration(struct vctx *v, const void *obj, const char *key, const struct opt_dur *d);

/* Kubernetes label keys and values. */
void rules_labels(struct vctx *v, const void *obj, const char *key, const struct str_map *m);

/* exportTo rules of §1.5; <se> allows "~". */
void rules_export_to(struct vctx *v, const void *obj, const struct str_list *l, bool se);

/* Report <pattern> (at <obj>.<key>; <field> names it in the message, e.g. "uri") unless it is
 * a regex RE2 accepts: Istio's message with the regex, the fault's offset and a hint. */
void rules_regex(struct vctx *v, const void *obj, const char *key, const char *field,
                 const char *pattern);

/* StringMatch rules; <field> is the name in messages ("uri", "headers"...). <prefix_may_be_empty>
 * is true only for uri. */
void rules_string_match(struct vctx *v, const struct string_match *m, const char *field,
                        bool prefix_may_be_empty);

/* A host in HTTP header-name syntax (token chars) or an allowed pseudo-header. */
bool rules_header_name(const char *name);

/* A port protocol Istio's protocol.Parse knows, case-insensitively: HTTP, HTTPS, HTTP2, GRPC,
 * GRPC-WEB, HTTP_PROXY, TLS, TCP, UDP, MONGO, REDIS, MYSQL. Gateway servers and ServiceEntry
 * ports both check against it (validateServerPort, ValidateProtocol). */
bool rules_known_protocol(const char *p);

/* Known HTTP status code (Go's http.StatusText is non-empty). */
bool rules_known_status(int64_t code);

/* Workload selector labels: no wildcards, non-empty keys. */
void rules_selector(struct vctx *v, const void *obj, const char *key, const struct str_map *m);

#endif
