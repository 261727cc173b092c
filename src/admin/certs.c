/* SPDX-License-Identifier: Apache-2.0 */
/* /certs. The workload identity is described from the chain loaded in memory (what new
 * connections present, after any rotation); Gateway and upstream certificates from the
 * files the live snapshot's TLS contexts were built from. */
#include "admin/certs.h"

#include <stdatomic.h>
#include <stdio.h>

#include "model/model.h"
#include "tls/certinfo.h"
#include "tls/certs.h"
#include "tls/conn.h"

/* One entry of "certificates": its name, CA files and chain files (any may be NULL). */
static void
entry(struct strbuf *sb, size_t *n, const char *name, const char *ca, const char *chain,
      const struct tls_identity *id, int *min_days)
{
    strbuf_puts(sb, (*n)++ ? ",{\"name\":" : "{\"name\":");
    strbuf_json_str(sb, name);
    strbuf_puts(sb, ",\"ca_cert\":[");
    certinfo_file(sb, ca, 0, min_days);
    strbuf_puts(sb, "],\"cert_chain\":[");
    if (id)
        certinfo_identity(sb, id, chain, 0, min_days);
    else
        certinfo_file(sb, chain, 0, min_days);
    strbuf_puts(sb, "]}");
}

int
certs_write(const struct admin *a, struct strbuf *sb)
{
    size_t n = 0;
    int min_days = -1;
    char name[1024], root[4096], chain[4096];
    strbuf_puts(sb, "{\"certificates\":[");
    const struct tls_identity *id = a->popt ? atomic_load(&a->popt->identity) : NULL;
    const char *dir = a->opts ? a->opts->identity_dir : NULL;
    if (id && dir) {
        snprintf(name, sizeof(name), "workload identity %s", tls_identity_spiffe(id));
        snprintf(root, sizeof(root), "%s/root-cert.pem", dir);
        snprintf(chain, sizeof(chain), "%s/cert-chain.pem", dir);
        entry(sb, &n, name, root, chain, id, &min_days);
    }
    const struct snapshot *s = a->snap;
    for (size_t i = 0; i < s->n_listeners; i++) {
        const struct model_listener *l = &s->listeners[i];
        for (size_t k = 0; k < l->n_tls; k++) {
            snprintf(name, sizeof(name), "%s (port %u) TLS server %zu%s%s", l->name, l->port, k,
                     l->tls[k].n_hosts ? ", hosts " : "",
                     l->tls[k].n_hosts ? l->tls[k].hosts[0] : "");
            entry(sb, &n, name, l->tls[k].ca, l->tls[k].cert, NULL, &min_days);
        }
    }
    for (size_t i = 0; i < s->n_clusters; i++) {
        const struct model_cluster *cl = s->clusters[i];
        if (!cl->tls_user || (!cl->tls_ca && !cl->tls_cert)) continue;
        snprintf(name, sizeof(name), "upstream %s", cl->name);
        entry(sb, &n, name, cl->tls_ca, cl->tls_cert, NULL, &min_days);
    }
    strbuf_puts(sb, "]}");
    return min_days;
}

int
certs_days_until_first_expiring(const struct admin *a)
{
    struct strbuf scratch;
    strbuf_init(&scratch, 16 << 20);
    int days = certs_write(a, &scratch);
    strbuf_fini(&scratch);
    return days;
}
