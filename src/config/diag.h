/* SPDX-License-Identifier: Apache-2.0 */
/* Diagnostics of config checking: every message has a severity, a code, the resource,
 * file:line:column, the field path and one sentence about what to change. */
#ifndef MESHLET_CONFIG_DIAG_H
#define MESHLET_CONFIG_DIAG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/strbuf.h"

enum diag_severity {
    DIAG_INFO,
    DIAG_WARNING,
    DIAG_ERROR,
};

/* Codes. Istio's where Istio has one; ML#### are meshlet's own. */
#define DIAG_SCHEMA_ERROR "IST0106"   /* per-resource validation error */
#define DIAG_SCHEMA_WARNING "IST0133" /* per-resource validation warning */
#define DIAG_DEPRECATED "IST0002"
#define DIAG_NOT_FOUND "IST0101"
#define DIAG_MESH_HOST_CONFLICT "IST0109"
#define DIAG_PORT_REQUIRED "IST0112"
#define DIAG_NO_CA_DEST "IST0128"
#define DIAG_NO_CA_PORT "IST0129"
#define DIAG_UNREACHABLE_RULE "IST0130"
#define DIAG_INEFFECTIVE_MATCH "IST0131"
#define DIAG_HOST_NOT_IN_GATEWAY "IST0132"
#define DIAG_DUPLICATE_CERTIFICATE "IST0138"
#define DIAG_SE_ADDRESSES "IST0134"
#define DIAG_INGRESS_SUBSET "IST0140"
#define DIAG_CONFLICTING_GATEWAYS "IST0145"
#define DIAG_GATEWAY_PORT_NOT_ON_SERVICE "IST0162"
#define DIAG_INTERNAL_GATEWAY "IST0165"
#define DIAG_SUBSET_NO_PODS "IST0173"
#define DIAG_DR_UNKNOWN_HOST "IST0174"
#define DIAG_LOAD_ERROR "ML0001" /* unreadable file, malformed YAML */
#define DIAG_OUTLIER_NEVER_EJECTS "ML0101"
#define DIAG_TIMEOUT_TOO_SHORT "ML0102"
#define DIAG_PERCENT_DEFAULT "ML0103"
#define DIAG_RETRYON_SPACE "ML0104"
#define DIAG_MULTIPLE_DR "ML0105"
#define DIAG_SUBSET_NO_ENDPOINTS "ML0106"
#define DIAG_GATEWAY_VS_SHARED "ML0107"
#define DIAG_DUPLICATE_RESOURCE "ML0108"
#define DIAG_NOT_ENFORCED "ML0109"         /* a kind or field meshlet reads but does not enforce */
#define DIAG_ORPHAN_DELEGATE "ML0110"      /* a VirtualService without hosts nobody delegates to */
#define DIAG_L4_NO_SERVER "ML0111"         /* a tcp/tls rule on a gateway with no server for it */
#define DIAG_MESH_TCP_PORT_SHARED "ML0112" /* two TCP services of the mesh on one port */
#define DIAG_L4_SHADOWED "ML0113"        /* a tcp rule an older VirtualService's catch-all hides */
#define DIAG_L4_GATEWAY_IGNORES "ML0114" /* an L4 condition Istio's gateways ignore */
#define DIAG_DYNAMIC_DNS "ML0115"        /* resolution DYNAMIC_DNS: not enforced */

struct diag {
    enum diag_severity severity;
    const char *code;    /* static string */
    const char *kind;    /* static; NULL when the message is about a file */
    const char *ns;      /* borrowed from the resource set; may be NULL */
    const char *name;    /* borrowed; may be NULL */
    const char *file;    /* borrowed; may be NULL */
    unsigned line, col;  /* 1-based; 0 when unknown */
    const char *path;    /* owned by the list's arena: "spec.http[0].route[1].weight" or "" */
    const char *message; /* owned by the list's arena: Istio's wording where Istio has one */
    const char *hint;    /* owned by the list's arena: what to change; may be NULL */
    /* Set when the message was made after the document was unloaded: the position is
     * found later by reading <file> again (config_locate). */
    bool pending;
    size_t doc_index;
    int item_index;
};

struct diag_list {
    struct diag *items; /* owned */
    size_t len, cap;
    size_t errors, warnings;
    struct arena arena; /* owns paths and texts */
};

void diag_list_init(struct diag_list *dl);
void diag_list_fini(struct diag_list *dl);

/* Append a message; <path>, <hint> may be NULL. The texts are copied. Returns the entry,
 * valid until the next append. */
struct diag *diag_add(struct diag_list *dl, enum diag_severity sev, const char *code,
                      const char *path, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Print every message to <sb>: text, one line each, or a JSON document when <json>. */
void diag_list_format(const struct diag_list *dl, bool json, struct strbuf *sb);

/* "Error", "Warning", "Info". */
const char *diag_severity_name(enum diag_severity sev);

/* True when some message has this code and this field path (tests and tools). */
bool diag_list_has(const struct diag_list *dl, const char *code, const char *path);

#endif
