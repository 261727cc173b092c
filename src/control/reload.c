/* SPDX-License-Identifier: Apache-2.0 */
/* The reload sequence: load and check the config as `meshlet check` does, compile it into
 * a snapshot, make the TLS contexts it needs (Gateway certificates, SIMPLE/MUTUAL upstream
 * files), then swap it in. Owns no sources of change (files.c watches files, cmd_run takes
 * signals, admin takes POST /reload) and no workers (publish is the caller's). */
#include "control/reload.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"
#include "core/now.h"
#include "tls/conn.h"

static void
free_snapshot_tls(struct snapshot *s)
{
    for (size_t i = 0; i < s->n_listeners; i++) tls_gateway_free(s->listeners[i].tls_ext);
    for (size_t i = 0; i < s->n_clusters; i++) tls_upstream_free(s->clusters[i]->tls_ext);
}

/* The TLS contexts <s> needs (Gateway certificates, SIMPLE/MUTUAL upstream files) made now
 * and tied to its life. 0, or -1 with the reason in <sb>. */
static int
attach_tls(struct snapshot *s, bool have_identity, struct strbuf *sb)
{
    s->ext_free = free_snapshot_tls;
    for (size_t i = 0; i < s->n_listeners; i++) {
        struct model_listener *l = &s->listeners[i];
        if (!l->n_tls) continue;
        char err[1024] = "out of memory";
        struct tls_gateway *g = tls_gateway_new(l->kind == MODEL_LISTENER_HTTP);
        l->tls_ext = g;
        for (size_t k = 0; g && k < l->n_tls; k++) {
            const struct model_tls_server *ts = &l->tls[k];
            if (tls_gateway_add(g, ts->hosts, ts->n_hosts, ts->cert, ts->key, ts->ca,
                                ts->min_version, ts->max_version, ts->ciphers, err, sizeof(err)))
                g = NULL;
        }
        if (!g) {
            strbuf_printf(sb, "%s (port %u) TLS: %s\n", l->name, l->port, err);
            return -1;
        }
    }
    for (size_t i = 0; i < s->n_clusters; i++) {
        struct model_cluster *cl = s->clusters[i];
        if (!cl->tls_user) continue;
        char err[1024];
        static uint64_t serial = 1; /* pooled connections are told apart by it */
        cl->tls_serial = ++serial;
        cl->tls_ext = tls_upstream_load(cl->tls_ca, cl->tls_cert, cl->tls_key, cl->tls_insecure,
                                        err, sizeof(err));
        if (!cl->tls_ext) {
            strbuf_printf(sb, "%s TLS: %s\n", cl->name, err);
            return -1;
        }
    }
    /* A STRICT inbound port cannot work without a certificate to serve. */
    for (size_t i = 0; !have_identity && i < s->n_listeners; i++) {
        if (s->listeners[i].inbound && s->listeners[i].peer_mode == MODEL_PEER_STRICT) {
            strbuf_printf(sb, "%s is STRICT (PeerAuthentication) and needs --identity\n",
                          s->listeners[i].name);
            return -1;
        }
    }
    return 0;
}

/* Say plainly what is not enforced rather than pretend. */
static void
notes(const struct resource_set *set)
{
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        const struct traffic_policy *tp =
            r->kind == KIND_DESTINATION_RULE && r->spec.dr ? r->spec.dr->traffic_policy : NULL;
        if (tp && tp->load_balancer && tp->load_balancer->simple.set &&
            tp->load_balancer->simple.v == LB_PASSTHROUGH) {
            log_msg(LOG_WARNING,
                    "note: DestinationRule %s/%s asks for PASSTHROUGH (the original "
                    "destination of intercepted traffic); meshlet intercepts nothing and "
                    "balances round robin over the endpoints instead",
                    r->ns, r->name);
        }
    }
}

/* The files <set> came from, in load order, kept in <s> for /config_dump. Resources are
 * loaded file by file, so each file's are consecutive. */
static void
remember_files(struct snapshot *s, const struct resource_set *set)
{
    s->files = arena_alloc(&s->arena, (set->len + 1) * sizeof(*s->files));
    for (size_t i = 0; i < set->len; i++) {
        const char *f = set->items[i]->file;
        if (f && (!s->n_files || strcmp(s->files[s->n_files - 1], f)))
            s->files[s->n_files++] = arena_strdup(&s->arena, f);
    }
}

/* A report of `meshlet check` messages and reasons, one log line each: diagnostics at their
 * severity, anything else at <other>. */
static void
log_report(const char *text, enum log_level other)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        enum log_level level = !strncmp(text, "Error", 5)     ? LOG_ERROR
                               : !strncmp(text, "Warning", 7) ? LOG_WARNING
                               : !strncmp(text, "Info", 4)    ? LOG_INFO
                                                              : other;
        if (n) log_msg(level, "%.*s", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

/* Every --gateway names a Gateway of <set>; else the reason in <sb>, with the Gateways the
 * config has. At a reload a missing one is only a warning: its listeners go away, as they
 * would in Istio, and the proxy keeps serving the others. */
static bool
gateways_known(const struct reload *rl, const struct resource_set *set, struct strbuf *sb)
{
    bool ok = true;
    for (size_t g = 0; g < rl->n_gateways; g++) {
        const char *want = rl->gateways[g], *slash = strchr(want, '/');
        bool found = false;
        for (size_t i = 0; i < set->len && !found; i++) {
            const struct resource *res = set->items[i];
            found = res->kind == KIND_GATEWAY && strlen(res->ns) == (size_t)(slash - want) &&
                    !strncmp(res->ns, want, (size_t)(slash - want)) &&
                    !strcmp(res->name, slash + 1);
        }
        if (found) continue;
        if (rl->snap) {
            log_msg(LOG_WARNING, "--gateway %s: the config has no such Gateway any more", want);
            continue;
        }
        strbuf_printf(sb, "--gateway %s: the config has no Gateway %s (it has:", want, want);
        size_t n = 0;
        for (size_t i = 0; i < set->len; i++)
            if (set->items[i]->kind == KIND_GATEWAY)
                strbuf_printf(sb, "%s %s/%s", n++ ? "," : "", set->items[i]->ns,
                              set->items[i]->name);
        strbuf_puts(sb, n ? ")\n" : " none)\n");
        ok = false;
    }
    return ok;
}

/* Load and check <src> into <set> and <dl> as `meshlet check` does; 0 or -errno (a path
 * that cannot be read). The caller ends with config_fini and diag_list_fini. */
static int
load(const struct reload *rl, const struct reload_source *src, struct resource_set *set,
     struct diag_list *dl)
{
    config_init(set);
    diag_list_init(dl);
    struct config_options copt = {.default_ns = rl->ns};
    int rc = 0;
    if (src->n_docs || src->store)
        config_load_docs(set, src->docs, src->n_docs, &copt, dl);
    else
        rc = config_load(set, src->paths, src->n_paths, &copt, dl);
    if (!rc) config_analyze(set, dl);
    return rc;
}

/* Compile <set> (checked) and attach TLS. The snapshot, or NULL with the reason in <sb>
 * and the kind of failure in <result>. <t0> is when the work began (for the log). */
static struct snapshot *
compile(struct reload *rl, const struct resource_set *set, int64_t revision, uint64_t t0,
        struct strbuf *sb, enum reload_result *result)
{
    uint64_t t_build = now_us_precise();
    char err[512];
    *result = RELOAD_ERRORS;
    struct snapshot *snap = model_build(set, &rl->mopt, err, sizeof(err));
    if (!snap) {
        strbuf_printf(sb, "%s\n", err);
        return NULL;
    }
    remember_files(snap, set);
    snap->digest = config_digest(set, rl->ns);
    snap->revision = revision;
    bool have_identity = rl->identity != NULL;
    if (attach_tls(snap, have_identity, sb)) {
        *result = RELOAD_USAGE;
        model_release(snap);
        return NULL;
    }
    /* mTLS endpoints without an identity to present would all fail: say so now. */
    for (size_t i = 0; !have_identity && i < snap->n_clusters; i++) {
        const struct model_cluster *cl = snap->clusters[i];
        bool mtls = false;
        for (size_t e = 0; e < cl->n_endpoints; e++) mtls |= cl->endpoints[e].mtls;
        if (mtls)
            log_msg(LOG_WARNING,
                    "%s is ISTIO_MUTUAL (or automatic mTLS) but no "
                    "--identity was given: its connections will fail (503 UF)",
                    cl->name);
    }
    log_msg(LOG_INFO,
            "config loaded and checked in %.1f ms; snapshot built in %.1f ms "
            "(%zu listeners, %zu routes, %zu clusters)",
            (double)(t_build - t0) / 1000, (double)(now_us_precise() - t_build) / 1000,
            snap->n_listeners, snap->n_routes, snap->n_clusters);
    *result = RELOAD_OK;
    return snap;
}

/* Load, check, compile and attach TLS. The snapshot and, in <*kept>, the resources it was
 * built from (for a rebuild); or NULL with every reason in <sb> (the messages of `meshlet
 * check`, then why it stopped) and the kind of failure in <result>. */
static struct snapshot *
build(struct reload *rl, const struct reload_source *src, struct strbuf *sb,
      enum reload_result *result, struct resource_set **kept)
{
    struct resource_set *set = malloc(sizeof(*set));
    *kept = NULL;
    *result = RELOAD_ERRORS;
    if (!set) {
        strbuf_puts(sb, "out of memory\n");
        return NULL;
    }
    struct diag_list dl;
    uint64_t t0 = now_us_precise();
    int rc = load(rl, src, set, &dl);
    diag_list_format(&dl, false, sb);
    struct snapshot *snap = NULL;
    if (rc) *result = RELOAD_USAGE;
    if (rc || dl.errors) {
        strbuf_printf(sb, "the config has %zu error(s)\n", dl.errors);
    } else if (!gateways_known(rl, set, sb)) {
        *result = RELOAD_USAGE;
    } else {
        notes(set);
        snap = compile(rl, set, src->revision, t0, sb, result);
    }
    diag_list_fini(&dl);
    if (snap) {
        *kept = set;
        return snap;
    }
    config_fini(set);
    free(set);
    return NULL;
}

/* Whether <s> has endpoints from DNS names: only then may it be rebuilt (a DNS answer), and
 * only then are its resources worth keeping (about 2.7 times the config's size). */
static bool
uses_dns(const struct snapshot *s)
{
    for (size_t i = 0; i < s->n_clusters; i++)
        if (s->clusters[i]->n_dns_names) return true;
    return false;
}

/* Let go of the resources kept for a rebuild. */
static void
drop_set(struct reload *rl)
{
    if (!rl->set) return;
    config_fini(rl->set);
    free(rl->set);
    rl->set = NULL;
}

/* The first line of <why> (NULL: none) as the last error. */
static void
remember_error(struct reload *rl, const char *why)
{
    size_t n = why ? strcspn(why, "\n") : 0;
    if (n >= sizeof(rl->last_error)) n = sizeof(rl->last_error) - 1;
    memcpy(rl->last_error, why ? why : "", n);
    rl->last_error[n] = '\0';
}

/* <snap> (or NULL: refused, the reasons in <sb>) ends a reload that began at <t0>: the
 * snapshot in force and the counts change, the log and <out> say so, rl->done is told. */
static enum reload_result
finish(struct reload *rl, struct snapshot *snap, enum reload_result result, const char *why,
       uint64_t t0, struct strbuf *sb, struct strbuf *out)
{
    remember_error(rl, snap ? NULL : strbuf_str(sb));
    if (!snap) {
        rl->n_failed++;
        log_report(strbuf_str(sb), LOG_ERROR);
        log_msg(LOG_ERROR, "reload (%s) refused; config version %llu stays in force", why,
                (unsigned long long)rl->snap->version);
        if (out) {
            strbuf_puts(out, strbuf_str(sb));
            strbuf_printf(out, "reload refused; config version %llu stays in force\n",
                          (unsigned long long)rl->snap->version);
        }
        if (rl->done) rl->done(rl, NULL, rl->done_arg);
        return result;
    }
    /* Said before the workers can serve with it, so the log never lags the traffic. */
    double ms = (double)(now_us_precise() - t0) / 1000;
    log_msg(LOG_INFO, "reload (%s): config version %llu in force (%.1f ms)", why,
            (unsigned long long)snap->version, ms);
    struct snapshot *old = rl->snap;
    rl->snap = snap;
    rl->n_ok++;
    if (rl->done) rl->done(rl, snap, rl->done_arg);
    model_release(old);
    if (out)
        strbuf_printf(out, "config version %llu in force (reloaded in %.1f ms)\n",
                      (unsigned long long)snap->version, ms);
    return RELOAD_OK;
}

enum reload_result
reload_run(struct reload *rl, const struct reload_source *src, const char *why, struct strbuf *out)
{
    uint64_t t0 = now_us_precise();
    struct strbuf sb;
    strbuf_init(&sb, 1 << 24);
    enum reload_result result;
    if (!src) src = rl->store ? rl->store(rl->store_arg) : &rl->source;
    struct resource_set *set;
    struct snapshot *snap = build(rl, src, &sb, &result, &set);
    malloc_trim(0); /* the parse of a large config was many times its size: not kept in RSS */
    if (snap) {
        rl->revision = src->revision;
        drop_set(rl);
        rl->set = set;
        if (!uses_dns(snap)) drop_set(rl);
    }
    if (!rl->snap) { /* the first load: `meshlet run` refuses to start on errors */
        remember_error(rl, snap ? NULL : strbuf_str(&sb));
        log_report(strbuf_str(&sb), LOG_ERROR);
        if (out) strbuf_puts(out, strbuf_str(&sb));
        strbuf_fini(&sb);
        rl->snap = snap;
        return result;
    }
    result = finish(rl, snap, result, why, t0, &sb, out);
    strbuf_fini(&sb);
    return result;
}

enum reload_result
reload_rebuild(struct reload *rl, const char *why)
{
    if (!rl->set || !rl->snap) return reload_run(rl, NULL, why, NULL);
    uint64_t t0 = now_us_precise();
    struct strbuf sb;
    strbuf_init(&sb, 1 << 20);
    enum reload_result result;
    struct snapshot *snap = compile(rl, rl->set, rl->revision, t0, &sb, &result);
    result = finish(rl, snap, result, why, t0, &sb, NULL);
    strbuf_fini(&sb);
    return result;
}

void
reload_fini(struct reload *rl)
{
    drop_set(rl);
    model_release(rl->snap);
    rl->snap = NULL;
}
