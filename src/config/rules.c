/* SPDX-License-Identifier: Apache-2.0 */
/* Shared validation rules. Messages are Istio's (pkg/config/validation) so users can search
 * for them; hints say what to change. */
#include "config/rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/field.h"
#include "core/regex.h"

static void
vreport(struct vctx *v, enum diag_severity sev, const char *code, const void *obj, const char *key,
        int index, const char *hint, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    const struct res_obj *o = obj;
    struct fy_node *node = o ? o->node : v->r->spec_node ? v->r->spec_node : v->r->root;
    const char *path = o ? o->path : v->r->spec_node ? "spec" : "";
    field_report(v->dl, v->r, node, path, key, index, sev, code, hint, "%s", msg);
}

void
rules_error(struct vctx *v, const void *obj, const char *key, int index, const char *hint,
            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(v, DIAG_ERROR, DIAG_SCHEMA_ERROR, obj, key, index, hint, fmt, ap);
    va_end(ap);
}

void
rules_warn(struct vctx *v, const void *obj, const char *key, int index, const char *hint,
           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(v, DIAG_WARNING, DIAG_SCHEMA_WARNING, obj, key, index, hint, fmt, ap);
    va_end(ap);
}

void
rules_report(struct vctx *v, enum diag_severity sev, const char *code, const void *obj,
             const char *key, int index, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(v, sev, code, obj, key, index, hint, fmt, ap);
    va_end(ap);
}

/* Istio's DNS-1123 label for hosts allows upper case (agent/validation.go). */
static bool
host_label(const char *s, size_t n)
{
    if (n == 0 || n > 63) return false;
    if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1])) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-') return false;
    return true;
}

bool
rules_dns1123_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i < n - 1)) return false;
    }
    return true;
}

const char *
rules_wildcard_domain(const char *host)
{
    static __thread char msg[600];
    size_t n = strlen(host);
    if (n == 0) return "empty domain name not allowed";
    if (n > 255) {
        snprintf(msg, sizeof(msg), "domain name %.300s too long (max 255)", host);
        return msg;
    }
    const char *dot = strchr(host, '.');
    size_t first_len = dot ? (size_t)(dot - host) : n;
    /* First label: "*", "*suffix" or a plain label. */
    const char *l = host;
    size_t ll = first_len;
    bool first_ok = (ll == 1 && l[0] == '*') ||
                    (ll > 1 && l[0] == '*' && host_label(l + 1, ll - 1)) || host_label(l, ll);
    if (!first_ok) {
        snprintf(msg, sizeof(msg), "domain name \"%s\" invalid (label \"%.*s\" invalid)", host,
                 (int)ll, l);
        return msg;
    }
    if (!dot) return NULL;
    const char *rest = dot + 1;
    const char *p = rest;
    const char *last = rest;
    size_t last_len = 0;
    for (;;) {
        const char *e = strchr(p, '.');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!host_label(p, len)) {
            snprintf(msg, sizeof(msg), "domain name \"%s\" invalid (label \"%.*s\" invalid)", host,
                     (int)len, p);
            return msg;
        }
        last = p;
        last_len = len;
        if (!e) break;
        p = e + 1;
    }
    bool numeric = true;
    for (size_t i = 0; i < last_len; i++)
        if (!isdigit((unsigned char)last[i])) numeric = false;
    if (numeric) {
        snprintf(msg, sizeof(msg),
                 "domain name \"%s\" invalid (top level domain \"%.*s\" cannot be all-numeric)",
                 host, (int)last_len, last);
        return msg;
    }
    return NULL;
}

bool
rules_is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

bool
rules_is_cidr(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash) return false;
    char ip[64];
    size_t n = (size_t)(slash - s);
    if (n >= sizeof(ip)) return false;
    memcpy(ip, s, n);
    ip[n] = '\0';
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (*end || end == slash + 1) return false;
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip, buf) == 1) return bits >= 0 && bits <= 32;
    if (inet_pton(AF_INET6, ip, buf) == 1) return bits >= 0 && bits <= 128;
    return false;
}

bool
rules_port(struct vctx *v, const void *obj, const char *key, int64_t port)
{
    if (port >= 1 && port <= 65535) return true;
    rules_error(v, obj, key, -1, "use a port from 1 to 65535",
                "port number %lld must be in the range 1..65535", (long long)port);
    return false;
}

bool
rules_duration(struct vctx *v, const void *obj, const char *key, const struct opt_dur *d)
{
    if (!d->set) return true;
    if (d->ns < 1000000) {
        rules_error(v, obj, key, -1, "leave the field out to disable it, or use 1ms or more",
                    "duration must be greater than 1ms");
        return false;
    }
    if (d->ns % 1000000) {
        rules_error(v, obj, key, -1, "round it to whole milliseconds",
                    "only durations to ms precision are supported");
        return false;
    }
    return true;
}

static bool
label_name(const char *s, size_t n)
{
    if (n == 0 || n > 63) return false;
    if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1])) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

static bool
label_key(const char *k)
{
    const char *slash = strchr(k, '/');
    if (!slash) return label_name(k, strlen(k));
    size_t pl = (size_t)(slash - k);
    if (pl == 0 || pl > 253) return false;
    for (size_t i = 0; i < pl; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false;
    }
    return label_name(slash + 1, strlen(slash + 1));
}

void
rules_labels(struct vctx *v, const void *obj, const char *key, const struct str_map *m)
{
    for (size_t i = 0; i < m->len; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s.%s", key, m->keys[i]);
        if (!label_key(m->keys[i])) {
            rules_error(v, obj, key, -1,
                        "label keys are [prefix/]name: alphanumerics, '-', '_', '.', at most 63",
                        "invalid label key %s", m->keys[i]);
        } else if (*m->vals[i] && !label_name(m->vals[i], strlen(m->vals[i]))) {
            rules_error(v, obj, key, -1,
                        "label values are empty or alphanumerics with '-', '_', '.', at most 63",
                        "invalid label value \"%s\" for key %s", m->vals[i], m->keys[i]);
        }
    }
}

void
rules_selector(struct vctx *v, const void *obj, const char *key, const struct str_map *m)
{
    for (size_t i = 0; i < m->len; i++) {
        if (!*m->keys[i]) {
            rules_error(v, obj, key, -1, "name the label", "key must not be empty");
        } else if (strchr(m->keys[i], '*')) {
            rules_error(v, obj, key, -1, "name the label exactly",
                        "wildcard not allowed in label key match");
        } else if (strchr(m->vals[i], '*')) {
            rules_error(v, obj, key, -1, "give the exact label value",
                        "wildcard not allowed in label value match");
        }
    }
    rules_labels(v, obj, key, m);
}

void
rules_export_to(struct vctx *v, const void *obj, const struct str_list *l, bool se)
{
    bool star = false, none = false, other = false;
    for (size_t i = 0; i < l->len; i++) {
        const char *e = l->v[i];
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(l->v[j], e)) {
                rules_error(v, obj, "exportTo", (int)i, "list each entry once",
                            "duplicate entries in exportTo for entry %s", e);
            }
        }
        if (!strcmp(e, "*")) {
            star = true;
        } else if (!strcmp(e, "~")) {
            if (!se) {
                rules_error(v, obj, "exportTo", (int)i, "use \".\", \"*\" or a namespace",
                            "exportTo ~ (export to no one) is only allowed for service entries");
            }
            none = true;
        } else {
            if (strcmp(e, ".") && !rules_dns1123_label(e)) {
                rules_error(v, obj, "exportTo", (int)i, "use \".\", \"*\" or a namespace name",
                            "only .,* or a valid DNS 1123 label is allowed as exportTo entry");
            }
            other = true;
        }
    }
    if (star && (other || none)) {
        rules_error(v, obj, "exportTo", -1, "use \"*\" alone or list namespaces",
                    "cannot have both public (*) and non-public exportTo values for a resource");
    }
    if (none && (other || star)) {
        rules_error(v, obj, "exportTo", -1, "use \"~\" alone",
                    "cannot export service entry to no one (~) and someone");
    }
}

/* What to change, by the kind of fault regex_check() found. */
static const char *
regex_hint(const char *err)
{
    if (strstr(err, "Perl syntax") || strstr(err, "escape sequence") ||
        strstr(err, "nested repetition") || strstr(err, "named capture"))
        return "RE2 has no lookaround, backreferences, atomic groups or possessive quantifiers: "
               "rewrite the regex without them";
    if (strstr(err, "missing closing ]")) return "close the character class with ], or write \\[";
    if (strstr(err, "parenthes")) return "balance the parentheses, or write \\( and \\)";
    if (strstr(err, "trailing backslash")) return "write \\\\ for a literal backslash";
    return "fix the regex at that offset (RE2 syntax)";
}

void
rules_regex(struct vctx *v, const void *obj, const char *key, const char *field,
            const char *pattern)
{
    char err[512];
    if (!regex_check(pattern, err, sizeof(err))) return;
    /* Istio's message, with the regex itself so the fault's offset can be found. */
    rules_error(v, obj, key, -1, regex_hint(err),
                "\"%s\": regex \"%s\": %s; Istio uses RE2 style regex-based match "
                "(https://github.com/google/re2/wiki/Syntax)",
                field, pattern, err);
}

void
rules_string_match(struct vctx *v, const struct string_match *m, const char *field,
                   bool prefix_may_be_empty)
{
    int set = (m->exact != NULL) + (m->prefix != NULL) + (m->regex != NULL);
    if (set > 1) {
        rules_error(v, m, NULL, -1, "keep one of exact, prefix or regex",
                    "\"%s\": only one of exact, prefix or regex may be set", field);
    }
    if (m->prefix && !*m->prefix && !prefix_may_be_empty) {
        rules_error(v, m, "prefix", -1, "give a prefix, or use {} to test for presence",
                    "\"%s\": prefix string match should not be empty", field);
    }
    if (m->regex) {
        if (!*m->regex) {
            rules_error(v, m, "regex", -1, "give a regex, or use {} to test for presence",
                        "\"%s\": regex string match should not be empty", field);
        } else if (strlen(m->regex) > 1024) {
            rules_error(v, m, "regex", -1, "shorten the regex",
                        "\"%s\": regex is too large, max length allowed is 1024", field);
        } else {
            rules_regex(v, m, "regex", field, m->regex);
        }
    }
}

bool
rules_header_name(const char *name)
{
    static const char *const pseudo[] = {":method", ":scheme", ":authority", ":path", ":status"};
    if (name[0] == ':') {
        for (size_t i = 0; i < sizeof(pseudo) / sizeof(pseudo[0]); i++)
            if (!strcmp(name, pseudo[i])) return true;
        return false;
    }
    if (!strncmp(name, "@request.auth.claims", 20)) return true;
    if (!*name) return false;
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c)) continue;
        if (!strchr("!#$%&'*+-.^_`|~", c)) return false;
    }
    return true;
}

bool
rules_known_status(int64_t code)
{
    static const int known[] = {100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208,
                                226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403,
                                404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416,
                                417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500,
                                501, 502, 503, 504, 505, 506, 507, 508, 510, 511};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (known[i] == code) return true;
    return false;
}

bool
rules_known_protocol(const char *p)
{
    static const char *const known[] = {"HTTP", "HTTPS", "HTTP2", "GRPC",  "GRPC-WEB", "HTTP_PROXY",
                                        "TLS",  "TCP",   "UDP",   "MONGO", "REDIS",    "MYSQL"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcasecmp(p, known[i])) return true;
    return false;
}
