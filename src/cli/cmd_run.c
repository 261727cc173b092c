/* SPDX-License-Identifier: Apache-2.0 */
/* `meshlet run`: load and check the config (refusing to start on errors), compile the
 * snapshot, start the workers and the admin server; reload on SIGHUP, POST /reload and
 * config file changes (a config that fails keeps the running one); drain on SIGTERM and
 * SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "admin/admin.h"
#include "control/dns.h"
#include "control/etcd_source.h"
#include "control/status.h"
#include "cli/cli.h"
#include "control/files.h"
#include "control/reload.h"
#include "core/compiler.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/now.h"
#include "core/sock.h"
#include "core/strbuf.h"
#include "http/worker.h"
#include "lb/lb.h"
#include "lb/outlier.h"
#include "model/endpoint.h"
#include "model/model.h"
#include "tls/certs.h"
#include "tls/conn.h"

/* "PORT=HOST:PORT" (HOST an IP or a name; [v6]:PORT) into <in>, the host kept in <host>. */
static int
parse_inbound(const char *arg, struct model_inbound *in, char host[256])
{
    char *end;
    if (*arg < '0' || *arg > '9') return -1; /* strtoul would take " 80" and "-1" */
    unsigned long port = strtoul(arg, &end, 10);
    if (*end != '=' || !port || port > 65535) return -1;
    const char *addr = end + 1, *colon = strrchr(addr, ':');
    if (!colon || colon == addr) return -1;
    size_t hl = (size_t)(colon - addr);
    if (addr[0] == '[' && colon[-1] == ']') {
        addr++;
        hl -= 2;
    }
    if (colon[1] < '0' || colon[1] > '9') return -1;
    unsigned long app_port = strtoul(colon + 1, &end, 10);
    if (*end || !app_port || app_port > 65535 || hl >= 256) return -1;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    *in = (struct model_inbound){0};
    in->port = (uint16_t)port;
    in->app_address = host;
    in->app_port = (uint16_t)app_port;
    return 0;
}

/* Does an earlier one of <in>[0..n) serve the port in[n] names? One listener per port. */
static bool
inbound_port_taken(const struct model_inbound *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (in[i].port == in[n].port) return true;
    return false;
}

/* The three files of --identity <dir> are there and readable; else say which is not and how
 * to make them (OpenSSL's own error names neither). */
static bool
identity_files_present(const char *dir)
{
    static const char *const files[] = {"cert-chain.pem", "key.pem", "root-cert.pem"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        if (access(path, R_OK) == 0) continue;
        fprintf(stderr,
                "meshlet run: --identity %s: cannot read %s: %s\n"
                "  a workload identity is made with `meshlet ca init --dir CA_DIR` (once) and\n"
                "  `meshlet ca issue --dir CA_DIR --ns NAMESPACE --sa SERVICE_ACCOUNT --out %s`\n",
                dir, path, strerror(errno), dir);
        return false;
    }
    return true;
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: meshlet run -c PATH [-c PATH]... [options]\n"
            "       meshlet run --etcd URL [--etcd-prefix PREFIX] [options]\n"
            "Serve traffic as the config says; refuses to start on a config `meshlet check`\n"
            "rejects. Stops on SIGTERM/SIGINT after a drain; SIGHUP reloads the config.\n"
            "  -c, --config PATH        config file or directory (repeatable; .yaml, .yml,\n"
            "                           .json); PATHs may also follow the options\n"
            "      --etcd URL[,URL...]  follow an etcd v3 store instead of files: every key\n"
            "                           PREFIX/<Kind>/<namespace>/<name> holds a resource\n"
            "      --etcd-prefix PREFIX the store's key prefix (default /meshlet)\n"
            "      --etcd-cacert FILE   https:// endpoints: trust this CA (default: the system's)\n"
            "      --etcd-cert FILE, --etcd-key FILE\n"
            "                           https:// endpoints: this client certificate and key\n"
            "      --etcd-debounce TIME changes this close reload once (default 100ms, as istiod)\n"
            "      --dns-server IP:PORT resolve DNS endpoints there (repeatable; default:\n"
            "                           /etc/resolv.conf)\n"
            "      --dns-min-refresh TIME  ask a name again no sooner than TIME, whatever its\n"
            "                           TTL; also the first retry after a failure (default 5s,\n"
            "                           Envoy's dns_min_refresh_rate)\n"
            "      --instance NAME      this instance in `meshlet status` (default\n"
            "                           HOSTNAME:ADMIN-PORT)\n"
            "  -w, --workers N          worker threads, 1 to 256 (default: number of CPUs)\n"
            "  -n, --namespace NS       this proxy's namespace (default: default)\n"
            "      --gateway NS/NAME    serve only these Gateways (repeatable; default all);\n"
            "                           each must be a Gateway in the config\n"
            "      --listen-address IP  address Gateway listeners bind (default 0.0.0.0)\n"
            "      --mesh-listen ADDR   the mesh listener, HOST:PORT (default 127.0.0.1:15001)\n"
            "      --admin ADDR         admin server (default 127.0.0.1:15000)\n"
            "      --identity DIR       workload certificate for ISTIO_MUTUAL: cert-chain.pem,\n"
            "                           key.pem, root-cert.pem (see `meshlet ca issue`)\n"
            "      --inbound PORT=ADDR  a sidecar listener on PORT in front of the app at\n"
            "                           ADDR (HOST:PORT), mTLS as PeerAuthentication says\n"
            "                           (repeatable, up to 16)\n"
            "      --inbound-tcp PORT=ADDR  the same for a TCP app: bytes relayed, no HTTP\n"
            "      --label K=V          this workload's labels (PeerAuthentication selectors;\n"
            "                           repeatable)\n"
            "      --credentials DIR    Gateway credentialName X: DIR/X/tls.crt, tls.key, ca.crt\n"
            "      --drain-time SECS    on SIGTERM/SIGINT, how long in-flight requests may take\n"
            "                           to finish: seconds or a duration (5, 0.5, 300ms; at most\n"
            "                           1h; default 5)\n"
            "      --no-watch           reload on SIGHUP and POST /reload only, not on file\n"
            "                           changes\n"
            "      --workload NAME      this proxy's workload in metrics (default: the `app`\n"
            "                           label, else meshlet)\n"
            "      --cluster NAME       this proxy's cluster in metrics (default Kubernetes)\n"
            "      --access-log PATH    one line per request to PATH (- : standard output);\n"
            "                           SIGUSR1 reopens it (after a rotation)\n"
            "      --access-log-format json|text  (default json)\n"
            "      --request-headers-timeout DUR  a request head must arrive whole within DUR\n"
            "                           of its first byte, else 408 (default 10s; 0: off)\n"
            "      --stream-idle-timeout DUR  a request or response moving no byte for DUR:\n"
            "                           408, or 504 once the request is in, or the response\n"
            "                           is cut (default 5m, as Envoy)\n"
            "      --idle-timeout DUR   close a client connection with no request for DUR\n"
            "                           (default 1h, as Envoy)\n"
            "      --http2-allow-connect  HTTP/2 clients may open WebSockets (extended\n"
            "                           CONNECT, RFC 8441; Envoy's allow_connect, off in Istio)\n"
            "      --max-connections N  client connections open at once; past it, 503 and\n"
            "                           close (default: what the open-file limit, raised to\n"
            "                           its maximum, has room for; 0: no limit)\n"
            "      --log-level " LOG_LEVEL_NAMES "\n"
            "                           messages on standard error from this level up\n"
            "                           (default info; POST /logging?level=L changes it)\n"
            "  -h, --help               this text\n"
            "Exit status: 0 stopped cleanly, 1 the config has errors or meshlet could not\n"
            "start (a port in use), 2 a usage error (a bad flag value, an unknown --gateway,\n"
            "unreadable config or certificate files).\n");
}

/* Raise the open-file limit to its maximum (as HAProxy and Go programs do) and say how many
 * client connections it has room for: each may hold an upstream connection too, and the
 * process keeps some for itself (per worker: epoll, eventfds, a reserve fd, <listeners>;
 * the admin server, signals, watches, logs). */
static size_t
max_connections_default(size_t workers, size_t listeners)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = {rl.rlim_max == RLIM_INFINITY ? 1 << 20 : rl.rlim_max, rl.rlim_max};
        if (!setrlimit(RLIMIT_NOFILE, &up)) rl.rlim_cur = up.rlim_cur;
    }
    if (rl.rlim_cur == RLIM_INFINITY) return 0;
    size_t reserved = 64 + workers * (8 + listeners);
    return rl.rlim_cur > reserved + 2 ? (size_t)(rl.rlim_cur - reserved) / 2 : 1;
}

/* Everything `meshlet run` keeps on the main thread. */
struct run {
    struct reload rl; /* the config in force (rl.snap) and how it is replaced */
    struct proxy_options popt;
    struct loop loop;
    struct worker *wks;
    size_t n_workers;
    struct admin admin;
    struct wheel_timer sweep;  /* outlier detection's interval sweeps */
    struct loop_watch sig;     /* signalfd */
    struct files files;        /* config paths (unless --no-watch) */
    struct etcd_source etcd;   /* --etcd: the config store instead of files */
    struct etcd_status status; /* --etcd: this instance's key in the store */
    bool draining;
    uint64_t drain_deadline_ms;
    struct wheel_timer drain_check;
    _Atomic size_t downstream_cx;  /* client connections open in every worker */
    struct dns_resolver *dns;      /* names of DNS endpoints, on the main loop */
    struct wheel_timer dns_reload; /* a rebuild soon after an answer changed */
    struct wheel_timer dns_warm;   /* /ready waits for the first answers (Envoy's warming) */
    /* A reload that brought names without an answer yet: its snapshot (acquired) waits for
     * them, bounded, before workers take it, as Envoy warms a new DNS cluster. */
    struct snapshot *held;
    struct snapshot *published; /* acquired: the last snapshot the workers were given */
    struct wheel_timer dns_hold;
    uint64_t dns_hold_until_ms;
    uint64_t dns_wait_ms; /* the longest one query may take (every server tried) */
    char principal[256];  /* --identity's SPIFFE id, copied: a rotation frees the original */
    struct wheel_timer dns_watch; /* every second: names whose every address fails */
    uint64_t dns_warm_until_ms;
};

/* The model's resolver hook: what the resolver knows now, never blocking. One address
 * (DNS_ROUND_ROBIN: Envoy's LOGICAL_DNS) is the first of the latest answer as the server
 * ordered it; a set is sorted, so the same set always builds the same pool. */
static size_t
run_resolve(void *arg, const char *name, struct sockaddr_storage *out, size_t max)
{
    if (max == 1) {
        size_t n = dns_lookup(arg, name, out, 1); /* asks when it has no answer yet */
        return n && dns_first(arg, name, out) ? 1 : n;
    }
    return dns_lookup(arg, name, out, max);
}

static void
on_dns_reload(struct wheel_timer *t)
{
    struct run *r = container_of(t, struct run, dns_reload);
    if (!r->draining) reload_rebuild(&r->rl, "DNS answer");
}

/* Ready once every DNS name has had its first answer or failure, or after the time one
 * query may take, as Envoy makes a DNS cluster warm before its listeners take traffic. */
static void
on_dns_warm(struct wheel_timer *t)
{
    struct run *r = container_of(t, struct run, dns_warm);
    size_t waiting = dns_waiting(r->dns);
    if (!waiting && !r->dns_reload.deadline_ms) {
        r->admin.ready = true;
        return;
    }
    if (now_ms() >= r->dns_warm_until_ms) {
        log_msg(LOG_WARNING, "DNS: %zu name(s) still without an answer; serving anyway", waiting);
        r->admin.ready = true;
        return;
    }
    wheel_arm(&r->loop.wheel, &r->dns_warm, now_ms() + 10);
}

/* Every address of DNS name <name> in pool <c> failed its last connect (and it has one). */
static bool
name_failing(const struct model_cluster *c, const char *name)
{
    size_t n = 0;
    for (size_t e = 0; e < c->n_endpoints; e++) {
        const struct model_endpoint *ep = &c->endpoints[e];
        if (!ep->dns_name || strcmp(ep->dns_name, name)) continue;
        if (!atomic_load_explicit(&ep->state->connect_failed, memory_order_relaxed)) return false;
        n++;
    }
    return n > 0;
}

/* A name whose every address fails to connect is asked again now, not at its TTL (the
 * resolver bounds it to once per minimum refresh): the service may have moved. */
static void
on_dns_watch(struct wheel_timer *t)
{
    struct run *r = container_of(t, struct run, dns_watch);
    const struct snapshot *s = r->rl.snap;
    for (size_t i = 0; s && i < s->n_clusters; i++) {
        const struct model_cluster *c = s->clusters[i];
        for (size_t k = 0; k < c->n_dns_names; k++)
            if (name_failing(c, c->dns_names[k])) dns_refresh(r->dns, c->dns_names[k]);
    }
    wheel_arm(&r->loop.wheel, &r->dns_watch, now_ms() + 1000);
}

/* A name's addresses changed (or came): rebuild once the answers of this moment are in,
 * as a config change does; endpoint state is kept per address across the rebuild. */
static void
on_dns_changed(void *arg)
{
    struct run *r = arg;
    if (!r->dns_reload.deadline_ms) wheel_arm(&r->loop.wheel, &r->dns_reload, now_ms() + 20);
}

static void
on_sweep(struct wheel_timer *t)
{
    struct run *r = container_of(t, struct run, sweep);
    uint64_t next = outlier_sweep(r->rl.snap, now_ms());
    if (next != UINT64_MAX) wheel_arm(&r->loop.wheel, &r->sweep, next);
}

/* The resolver lets go of names the config in force no longer uses (a refused reload may
 * have looked up some): they are not asked again nor listed. */
static void
retain_dns_names(struct run *r, const struct snapshot *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_clusters; i++) n += s->clusters[i]->n_dns_names;
    const char **names = n ? malloc(n * sizeof(*names)) : NULL;
    if (n && !names) return; /* kept until a later reload: harmless */
    n = 0;
    for (size_t i = 0; i < s->n_clusters; i++)
        for (size_t k = 0; k < s->clusters[i]->n_dns_names; k++)
            names[n++] = s->clusters[i]->dns_names[k];
    dns_retain(r->dns, names, n);
    free(names);
}

/* Workers serve <snap> from their next batch; a snapshot held for warming is superseded. */
static void
publish(struct run *r, struct snapshot *snap)
{
    for (size_t i = 0; i < r->n_workers; i++) worker_publish(&r->wks[i], model_acquire(snap));
    wheel_disarm(&r->loop.wheel, &r->dns_hold);
    model_release(r->published);
    r->published = model_acquire(snap);
    model_release(r->held);
    r->held = NULL;
}

/* Whether <s> has a DNS name the workers' snapshot lacks that has no answer yet: its pool
 * would be empty for a moment, where the old snapshot may still serve. A name both lack
 * an answer for loses nothing by waiting no more. */
static bool
brings_waiting_names(const struct run *r, const struct snapshot *s)
{
    const struct snapshot *old = r->published;
    for (size_t i = 0; i < s->n_clusters; i++) {
        const struct model_cluster *c = s->clusters[i];
        for (size_t k = 0; k < c->n_dns_names; k++) {
            const char *name = c->dns_names[k];
            if (!dns_name_waiting(r->dns, name)) continue;
            bool known = false;
            for (size_t j = 0; old && j < old->n_clusters && !known; j++)
                for (size_t m = 0; m < old->clusters[j]->n_dns_names && !known; m++)
                    known = !strcmp(old->clusters[j]->dns_names[m], name);
            if (!known) return true;
        }
    }
    return false;
}

/* The held snapshot goes out once its new names have answers (or failed), unless a rebuild
 * with the answers is about to replace it, or after the time one query may take. */
static void
on_dns_hold(struct wheel_timer *t)
{
    struct run *r = container_of(t, struct run, dns_hold);
    if (!r->held) return;
    bool over = now_ms() >= r->dns_hold_until_ms;
    if (!over && (brings_waiting_names(r, r->held) || r->dns_reload.deadline_ms)) {
        wheel_arm(&r->loop.wheel, &r->dns_hold, now_ms() + 10);
        return;
    }
    if (over)
        log_msg(LOG_WARNING,
                "DNS: %zu new name(s) still without an answer; config version "
                "%llu goes to the workers anyway",
                dns_waiting(r->dns), (unsigned long long)r->held->version);
    publish(r, r->held);
}

/* After a reload: a new snapshot goes to every worker (served from its next batch), to
 * the admin server and to outlier detection; the counts go to /stats either way. */
static void
on_reload_done(struct reload *rl, struct snapshot *snap, void *arg)
{
    struct run *r = arg;
    r->admin.reloads_ok = rl->n_ok;
    r->admin.reloads_failed = rl->n_failed;
    if (r->etcd.loop) etcd_status_changed(&r->status);
    if (r->dns) retain_dns_names(r, snap ? snap : rl->snap);
    if (!snap) return;
    if (r->dns && brings_waiting_names(r, snap)) {
        model_release(r->held);
        r->held = model_acquire(snap);
        if (!wheel_armed(&r->dns_hold)) {
            r->dns_hold_until_ms = now_ms() + r->dns_wait_ms;
            wheel_arm(&r->loop.wheel, &r->dns_hold, now_ms() + 10);
        }
    } else {
        publish(r, snap);
    }
    r->admin.snap = snap;
    wheel_disarm(&r->loop.wheel, &r->sweep);
    on_sweep(&r->sweep);
}

static int
admin_reload(void *arg, struct strbuf *out)
{
    struct run *r = arg;
    return reload_run(&r->rl, NULL, "POST /reload", out) ? -1 : 0;
}

static size_t
open_connections(const struct run *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_workers; i++)
        n += atomic_load_explicit(&r->wks[i].n_conns, memory_order_relaxed);
    return n;
}

static void
on_drain_check(struct wheel_timer *t)
{
    struct run *r = container_of(t, struct run, drain_check);
    size_t open = open_connections(r);
    if (!open || now_ms() >= r->drain_deadline_ms) {
        if (open) log_msg(LOG_WARNING, "drain time over; closing %zu connection(s)", open);
        loop_stop(&r->loop);
        return;
    }
    wheel_arm(&r->loop.wheel, &r->drain_check, now_ms() + 20);
}

/* SIGTERM/SIGINT: stop accepting, let exchanges in flight end (up to the drain time), then
 * stop. A second signal stops at once. */
static void
drain(struct run *r, uint64_t drain_ms)
{
    if (r->draining) {
        loop_stop(&r->loop);
        return;
    }
    r->draining = true;
    r->admin.draining = true;
    log_msg(LOG_INFO, "draining (up to %llu ms)", (unsigned long long)drain_ms);
    for (size_t i = 0; i < r->n_workers; i++) worker_drain(&r->wks[i]);
    r->drain_deadline_ms = now_ms() + drain_ms;
    r->drain_check.cb = on_drain_check;
    wheel_arm(&r->loop.wheel, &r->drain_check, now_ms() + 20);
}

static uint64_t drain_time_ms = 5000;

/* POST /quitquitquit: what SIGTERM does. */
static void
admin_quit(void *arg)
{
    struct run *r = arg;
    if (!r->draining) drain(r, drain_time_ms);
}

static void
on_signal(struct loop_watch *w, unsigned events)
{
    (void)events;
    struct run *r = container_of(w, struct run, sig);
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) drain(r, drain_time_ms);
        if (si.ssi_signo == SIGHUP && !r->draining) reload_run(&r->rl, NULL, "SIGHUP", NULL);
        if (si.ssi_signo == SIGUSR1 && r->popt.access_log) { /* Envoy's: logs were rotated */
            access_log_reopen(r->popt.access_log);
            log_msg(LOG_INFO, "access log reopened");
        }
    }
}

int
cmd_run(int argc, char **argv)
{
    enum {
        OPT_ADMIN = 256,
        OPT_LISTEN,
        OPT_MESH,
        OPT_GATEWAY,
        OPT_IDENTITY,
        OPT_INBOUND,
        OPT_INBOUND_TCP,
        OPT_LABEL,
        OPT_CREDENTIALS,
        OPT_DRAIN,
        OPT_NO_WATCH,
        OPT_WORKLOAD,
        OPT_CLUSTER,
        OPT_ACCESS_LOG,
        OPT_ACCESS_LOG_FORMAT,
        /* client-side limits */
        OPT_HEADERS_TIMEOUT,
        OPT_STREAM_IDLE_TIMEOUT,
        OPT_ALLOW_CONNECT,
        OPT_IDLE_TIMEOUT,
        OPT_MAX_CONNECTIONS,
        OPT_LOG_LEVEL,
        OPT_ETCD,
        OPT_ETCD_PREFIX,
        OPT_INSTANCE,
        OPT_ETCD_CACERT,
        OPT_ETCD_CERT,
        OPT_ETCD_KEY,
        OPT_ETCD_DEBOUNCE,
        OPT_DNS_SERVER,
        OPT_DNS_MIN_REFRESH
    };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"workers", required_argument, NULL, 'w'},
        {"admin", required_argument, NULL, OPT_ADMIN},
        {"listen-address", required_argument, NULL, OPT_LISTEN},
        {"mesh-listen", required_argument, NULL, OPT_MESH},
        {"namespace", required_argument, NULL, 'n'},
        {"gateway", required_argument, NULL, OPT_GATEWAY},
        {"identity", required_argument, NULL, OPT_IDENTITY},
        {"inbound", required_argument, NULL, OPT_INBOUND},
        {"inbound-tcp", required_argument, NULL, OPT_INBOUND_TCP},
        {"label", required_argument, NULL, OPT_LABEL},
        {"credentials", required_argument, NULL, OPT_CREDENTIALS},
        {"drain-time", required_argument, NULL, OPT_DRAIN},
        {"no-watch", no_argument, NULL, OPT_NO_WATCH},
        {"workload", required_argument, NULL, OPT_WORKLOAD},
        {"cluster", required_argument, NULL, OPT_CLUSTER},
        {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
        {"access-log-format", required_argument, NULL, OPT_ACCESS_LOG_FORMAT},
        {"request-headers-timeout", required_argument, NULL, OPT_HEADERS_TIMEOUT},
        {"stream-idle-timeout", required_argument, NULL, OPT_STREAM_IDLE_TIMEOUT},
        {"http2-allow-connect", no_argument, NULL, OPT_ALLOW_CONNECT},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"etcd", required_argument, NULL, OPT_ETCD},
        {"etcd-prefix", required_argument, NULL, OPT_ETCD_PREFIX},
        {"instance", required_argument, NULL, OPT_INSTANCE},
        {"etcd-cacert", required_argument, NULL, OPT_ETCD_CACERT},
        {"etcd-cert", required_argument, NULL, OPT_ETCD_CERT},
        {"etcd-key", required_argument, NULL, OPT_ETCD_KEY},
        {"etcd-debounce", required_argument, NULL, OPT_ETCD_DEBOUNCE},
        {"dns-server", required_argument, NULL, OPT_DNS_SERVER},
        {"dns-min-refresh", required_argument, NULL, OPT_DNS_MIN_REFRESH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *paths[64], *gateways[64], *labels[64];
    size_t n_paths = 0, n_gateways = 0, n_labels = 0, n_inbounds = 0;
    struct model_inbound inbounds[16];
    char inbound_hosts[16][256];
    const char *inbound_args[16];
    long workers = sysconf(_SC_NPROCESSORS_ONLN);
    if (workers < 1) workers = 1;
    if (workers > 256) workers = 256;
    const char *admin_addr = "127.0.0.1:15000", *listen_ip = "0.0.0.0";
    const char *mesh_addr = "127.0.0.1:15001", *ns = "default", *identity_dir = NULL;
    const char *credentials = NULL, *etcd_urls = NULL, *etcd_prefix = "/meshlet";
    const char *instance = NULL, *etcd_ca = NULL, *etcd_cert = NULL, *etcd_key = NULL;
    uint64_t etcd_debounce_ms = ETCD_SETTLE_MS;
    uint64_t dns_min_refresh_ms = DNS_MIN_REFRESH_DEFAULT_MS; /* Envoy's dns_min_refresh_rate */
    const char *dns_servers[8];
    size_t n_dns_servers = 0;
    bool watch_files = true;
    const char *workload = NULL, *access_log = NULL, *cluster = "Kubernetes";
    enum access_log_format log_format = ACCESS_LOG_JSON;
    /* Envoy's stream_idle_timeout (5 min) and idle_timeout (1 h), which Istio leaves as they
     * are; Envoy has no request_headers_timeout by default, so a head trickled a byte at a
     * time would hold a connection for ever: 10 s, the bound HAProxy's manual advises. */
    uint64_t headers_timeout_ms = 10000, stream_idle_ms = 300000, idle_ms = 3600000;
    bool allow_connect = false;
    long long max_connections = -1; /* -1: from the open-file limit */
    enum log_level log_level = LOG_INFO;
    int c;
    optind = 1;
/* A flag's value is refused with the flag, the value and what was expected. */
/* Client timeouts take what --drain-time takes (10s, 5m, 1h, or seconds); 0 is off. */
#define TIMEOUT_MAX_MS (30ull * 24 * 3600 * 1000)
#define TIMEOUT_EXPECTED "expected a duration such as 10s, 5m or 1h (0: off)"
#define BAD_FLAG(flag, expected)                                                                   \
    do {                                                                                           \
        fprintf(stderr, "meshlet run: %s '%s': %s\n", flag, optarg, expected);                     \
        return CLI_USAGE;                                                                          \
    } while (0)
#define TOO_MANY(flag, max)                                                                        \
    do {                                                                                           \
        fprintf(stderr, "meshlet run: %s given more than %d times\n", flag, max);                  \
        return CLI_USAGE;                                                                          \
    } while (0)
    opterr = 0; /* getopt's messages would say "run:"; ours name the option */
    while ((c = getopt_long(argc, argv, ":c:w:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (n_paths == 64) TOO_MANY("--config", 64);
            paths[n_paths++] = optarg;
            break;
        case 'w':
            if (!cli_parse_int(optarg, 1, 256, &workers))
                BAD_FLAG("--workers", "expected a number of worker threads from 1 to 256");
            break;
        case 'n':
            if (!*optarg) BAD_FLAG("--namespace", "expected a namespace");
            ns = optarg;
            break;
        case OPT_ADMIN: admin_addr = optarg; break;
        case OPT_LISTEN: listen_ip = optarg; break;
        case OPT_MESH: mesh_addr = optarg; break;
        case OPT_IDENTITY: identity_dir = optarg; break;
        case OPT_CREDENTIALS: credentials = optarg; break;
        case OPT_NO_WATCH: watch_files = false; break;
        case OPT_ALLOW_CONNECT: allow_connect = true; break;
        case OPT_WORKLOAD:
            if (!*optarg) BAD_FLAG("--workload", "expected a workload name");
            workload = optarg;
            break;
        case OPT_CLUSTER:
            if (!*optarg) BAD_FLAG("--cluster", "expected a cluster name");
            cluster = optarg;
            break;
        case OPT_ACCESS_LOG: access_log = optarg; break;
        case OPT_ETCD: etcd_urls = optarg; break;
        case OPT_ETCD_CACERT: etcd_ca = optarg; break;
        case OPT_ETCD_CERT: etcd_cert = optarg; break;
        case OPT_ETCD_KEY: etcd_key = optarg; break;
        case OPT_DNS_SERVER:
            if (n_dns_servers == 8) TOO_MANY("--dns-server", 8);
            if (!strchr(optarg, ':'))
                BAD_FLAG("--dns-server", "expected IP:PORT (e.g. 127.0.0.1:53)");
            dns_servers[n_dns_servers++] = optarg;
            break;
        case OPT_DNS_MIN_REFRESH:
            if (!cli_parse_seconds(optarg, DNS_REFRESH_DEFAULT_MS, &dns_min_refresh_ms) ||
                dns_min_refresh_ms < 100)
                BAD_FLAG("--dns-min-refresh", "expected a duration from 100ms to 60s (e.g. 5s)");
            break;
        case OPT_ETCD_DEBOUNCE:
            if (!cli_parse_seconds(optarg, 10000, &etcd_debounce_ms) || !etcd_debounce_ms)
                BAD_FLAG("--etcd-debounce", "expected a duration from 1ms to 10s (e.g. 100ms)");
            break;
        case OPT_INSTANCE:
            if (!*optarg || strchr(optarg, '/') || strlen(optarg) > 100)
                BAD_FLAG("--instance", "expected a name without '/' (up to 100 characters)");
            instance = optarg;
            break;
        case OPT_ETCD_PREFIX:
            if (*optarg != '/') BAD_FLAG("--etcd-prefix", "expected a key prefix such as /meshlet");
            etcd_prefix = optarg;
            break;
        case OPT_ACCESS_LOG_FORMAT:
            if (strcmp(optarg, "json") && strcmp(optarg, "text"))
                BAD_FLAG("--access-log-format", "expected json or text");
            log_format = !strcmp(optarg, "json") ? ACCESS_LOG_JSON : ACCESS_LOG_TEXT;
            break;
        case OPT_LOG_LEVEL:
            if (!log_level_parse(optarg, &log_level))
                BAD_FLAG("--log-level", "expected one of " LOG_LEVEL_NAMES);
            break;
        case OPT_DRAIN:
            if (!cli_parse_seconds(optarg, 3600 * 1000, &drain_time_ms))
                BAD_FLAG("--drain-time", "expected seconds or a duration up to 1h (5, 0.5, 300ms)");
            break;
        case OPT_HEADERS_TIMEOUT:
            if (!cli_parse_seconds(optarg, TIMEOUT_MAX_MS, &headers_timeout_ms))
                BAD_FLAG("--request-headers-timeout", TIMEOUT_EXPECTED);
            break;
        case OPT_STREAM_IDLE_TIMEOUT:
            if (!cli_parse_seconds(optarg, TIMEOUT_MAX_MS, &stream_idle_ms))
                BAD_FLAG("--stream-idle-timeout", TIMEOUT_EXPECTED);
            break;
        case OPT_IDLE_TIMEOUT:
            if (!cli_parse_seconds(optarg, TIMEOUT_MAX_MS, &idle_ms))
                BAD_FLAG("--idle-timeout", TIMEOUT_EXPECTED);
            break;
        case OPT_MAX_CONNECTIONS: {
            long n;
            if (!cli_parse_int(optarg, 0, LONG_MAX, &n))
                BAD_FLAG("--max-connections", "expected a number (0: no limit)");
            max_connections = n;
            break;
        }
        case OPT_LABEL:
            if (n_labels == 64) TOO_MANY("--label", 64);
            if (!strchr(optarg, '=') || *optarg == '=')
                BAD_FLAG("--label", "expected KEY=VALUE (e.g. app=orders)");
            labels[n_labels++] = optarg;
            break;
        case OPT_INBOUND:
            if (n_inbounds == 16) TOO_MANY("--inbound", 16);
            if (parse_inbound(optarg, &inbounds[n_inbounds], inbound_hosts[n_inbounds]))
                BAD_FLAG("--inbound", "expected PORT=HOST:PORT (e.g. 9080=127.0.0.1:8080)");
            if (inbound_port_taken(inbounds, n_inbounds))
                BAD_FLAG("--inbound", "that port has an inbound listener already");
            inbound_args[n_inbounds++] = optarg;
            break;
        case OPT_INBOUND_TCP:
            if (n_inbounds == 16) TOO_MANY("--inbound-tcp", 16);
            if (parse_inbound(optarg, &inbounds[n_inbounds], inbound_hosts[n_inbounds]))
                BAD_FLAG("--inbound-tcp", "expected PORT=HOST:PORT (e.g. 9000=127.0.0.1:9001)");
            if (inbound_port_taken(inbounds, n_inbounds))
                BAD_FLAG("--inbound-tcp", "that port has an inbound listener already");
            inbounds[n_inbounds].tcp = true;
            inbound_args[n_inbounds++] = optarg;
            break;
        case OPT_GATEWAY:
            if (n_gateways == 64) TOO_MANY("--gateway", 64);
            if (!cli_is_ns_name(optarg))
                BAD_FLAG("--gateway", "expected NAMESPACE/NAME of a Gateway (e.g. prod/edge)");
            gateways[n_gateways++] = optarg;
            break;
        case 'h': usage(stdout); return CLI_OK;
        case ':':
            fprintf(stderr,
                    "meshlet run: %s needs a value; `meshlet run --help` lists the "
                    "options\n",
                    argv[optind - 1]);
            return CLI_USAGE;
        default:
            fprintf(stderr,
                    "meshlet run: unknown option %s; `meshlet run --help` lists the "
                    "options\n",
                    argv[optind - 1]);
            return CLI_USAGE;
        }
    }
#undef BAD_FLAG
#undef TOO_MANY
    for (; optind < argc; optind++) {
        if (n_paths == 64) {
            fprintf(stderr, "meshlet run: more than 64 config paths\n");
            return CLI_USAGE;
        }
        paths[n_paths++] = argv[optind];
    }
    if (!n_paths && !etcd_urls) {
        fprintf(stderr, "meshlet run: no config: give -c PATH (a file or directory) or --etcd "
                        "URL\n");
        usage(stderr);
        return CLI_USAGE;
    }
    if (n_paths && etcd_urls) {
        fprintf(stderr, "meshlet run: -c and --etcd are alternatives: the config comes from "
                        "files or from etcd\n");
        return CLI_USAGE;
    }

    static struct run run; /* one per process; the timers' callbacks find it from theirs */
    struct run *r = &run;
    memset(r, 0, sizeof(*r));
    char etcd_err[512];
    static struct tls_upstream *etcd_tls; /* https:// endpoints' client context */
    if (etcd_urls && etcd_source_endpoints(&r->etcd, etcd_urls, etcd_err, sizeof(etcd_err))) {
        fprintf(stderr, "meshlet run: --etcd %s\n", etcd_err);
        etcd_source_fini(&r->etcd);
        tls_upstream_free(etcd_tls);
        return CLI_USAGE;
    }
    if (etcd_urls && etcd_endpoints_tls(r->etcd.endpoints, r->etcd.n_endpoints, etcd_ca, etcd_cert,
                                        etcd_key, &etcd_tls, etcd_err, sizeof(etcd_err))) {
        fprintf(stderr, "meshlet run: --etcd-cacert/--etcd-cert/--etcd-key: %s\n", etcd_err);
        etcd_source_fini(&r->etcd);
        tls_upstream_free(etcd_tls);
        return CLI_USAGE;
    }
    if (etcd_urls) watch_files = false;
    r->n_workers = (size_t)workers;
    struct reload *rl = &r->rl;
    rl->source = (struct reload_source){.paths = paths, .n_paths = n_paths};
    rl->ns = ns;
    rl->gateways = gateways;
    rl->n_gateways = n_gateways;
    rl->done = on_reload_done;
    rl->done_arg = r;
    struct proxy_options *popt = &r->popt;
    h1_limits_default(&popt->limits);
    popt->request_headers_timeout_ms = headers_timeout_ms;
    popt->stream_idle_timeout_ms = stream_idle_ms;
    popt->idle_timeout_ms = idle_ms;
    popt->allow_connect = allow_connect;
    /* The name metrics report for this proxy: --workload, else its `app` label. */
    for (size_t i = 0; !workload && i < n_labels; i++)
        if (!strncmp(labels[i], "app=", 4)) workload = labels[i] + 4;
    popt->workload = workload ? workload : "meshlet";
    popt->ns = ns;
    metrics_local_from_labels(&popt->local, popt->workload, labels, n_labels);
    popt->local.ns = ns;
    popt->local.cluster = cluster;
    char gw[160];
    snprintf(gw, sizeof(gw), strchr(listen_ip, ':') ? "[%s]:0" : "%s:0", listen_ip);
    struct sockaddr_storage admin_ss;
    socklen_t admin_len;
    if (strlen(listen_ip) > 100 ||
        sock_parse_addr(gw, &popt->gateway_addr, &popt->gateway_addr_len)) {
        fprintf(stderr,
                "meshlet run: --listen-address '%s': expected an IP address (e.g. "
                "0.0.0.0, 127.0.0.1 or ::)\n",
                listen_ip);
        return CLI_USAGE;
    }
    if (sock_parse_addr(mesh_addr, &popt->mesh_addr, &popt->mesh_addr_len)) {
        fprintf(stderr,
                "meshlet run: --mesh-listen '%s': expected IP:PORT (e.g. "
                "127.0.0.1:15001, [::1]:15001)\n",
                mesh_addr);
        return CLI_USAGE;
    }
    if (sock_parse_addr(admin_addr, &admin_ss, &admin_len)) {
        fprintf(stderr,
                "meshlet run: --admin '%s': expected IP:PORT (e.g. 127.0.0.1:15000, "
                "[::1]:15000)\n",
                admin_addr);
        return CLI_USAGE;
    }
    log_set_level(log_level);

    /* The workload identity for ISTIO_MUTUAL (cert-chain.pem, key.pem, root-cert.pem). */
    if (identity_dir && !identity_files_present(identity_dir)) return CLI_USAGE;
    char id_err[1024];
    struct tls_identity *identity = NULL;
    if (identity_dir && !(identity = tls_identity_load(identity_dir, id_err, sizeof(id_err)))) {
        fprintf(stderr, "meshlet run: --identity %s: %s\n", identity_dir, id_err);
        return CLI_USAGE;
    }
    popt->identity = identity; /* stable: its credential rotates inside (tls/certs.h) */
    if (identity) {
        snprintf(r->principal, sizeof(r->principal), "%s", tls_identity_spiffe(identity));
        popt->local.principal = r->principal;
    }
    rl->identity = identity;

    struct model_options *mopt = &rl->mopt;
    mopt->gateways = gateways;
    mopt->n_gateways = n_gateways;
    mopt->ns = ns;
    mopt->workload = popt->workload;
    mopt->prepare_cluster = lb_prepare_cluster;
    if (identity) mopt->trust_domain = tls_identity_trust_domain(identity);
    mopt->inbounds = inbounds;
    mopt->n_inbounds = n_inbounds;
    mopt->labels = labels;
    mopt->n_labels = n_labels;
    mopt->credentials_dir = credentials;
    mopt->n_workers = (size_t)workers;
    mopt->mesh_port = popt->mesh_addr.ss_family == AF_INET6
                          ? ntohs(((const struct sockaddr_in6 *)&popt->mesh_addr)->sin6_port)
                          : ntohs(((const struct sockaddr_in *)&popt->mesh_addr)->sin_port);

    /* With --etcd the main loop runs before the first load: it reads the store. */
    bool loop_ready = false;
    if (etcd_urls) {
        if (loop_init(&r->loop)) {
            log_msg(LOG_ERROR, "meshlet run: out of resources");
            etcd_source_fini(&r->etcd);
            tls_upstream_free(etcd_tls);
            tls_identity_free(identity);
            return CLI_ERRORS;
        }
        loop_ready = true;
        r->etcd.settle_ms = etcd_debounce_ms;
        etcd_source_start(&r->etcd, &r->loop, etcd_prefix, rl);
        etcd_source_wait(&r->etcd);
    }

    /* DNS endpoints: the resolver runs on the main loop, so the loop is made before the
     * first load; that load finds no answer yet, and the first answers rebuild. */
    if (!loop_ready) {
        if (loop_init(&r->loop)) {
            log_msg(LOG_ERROR, "meshlet run: out of resources");
            tls_upstream_free(etcd_tls);
            tls_identity_free(identity);
            return CLI_ERRORS;
        }
        loop_ready = true;
    }
    struct dns_options dopt = {
        .servers = dns_servers, .n_servers = n_dns_servers, .min_refresh_ms = dns_min_refresh_ms};
    char dns_err[256];
    r->dns = dns_resolver_new(&r->loop, &dopt, on_dns_changed, r, dns_err, sizeof(dns_err));
    if (!r->dns) {
        log_msg(LOG_ERROR, "meshlet run: DNS: %s", dns_err);
        etcd_source_fini(&r->etcd);
        tls_upstream_free(etcd_tls);
        loop_fini(&r->loop);
        tls_identity_free(identity);
        return CLI_USAGE;
    }
    r->dns_reload.cb = on_dns_reload;
    r->dns_hold.cb = on_dns_hold;
    /* c-ares tries every server, each DNS_TRIES times with the timeout doubling per round */
    r->dns_wait_ms = (n_dns_servers ? n_dns_servers : 1) * 3 * DNS_TIMEOUT_DEFAULT_MS + 500;
    mopt->resolve = run_resolve;
    mopt->resolve_arg = r->dns;

    /* Refuse to serve a config that does not pass `meshlet check`; a store's may be fixed
     * while this instance waits, as the rest of its fleet keeps serving. */
    enum reload_result first = reload_run(rl, NULL, NULL, NULL);
    while (first == RELOAD_ERRORS && etcd_urls) {
        log_msg(LOG_WARNING,
                "meshlet run: the config in etcd at revision %lld does not pass "
                "`meshlet check`; waiting for a change",
                (long long)r->etcd.revision);
        etcd_source_wait(&r->etcd);
        first = reload_run(rl, NULL, NULL, NULL);
    }
    if (first == RELOAD_OK) { /* what the workers start with; refused attempts' names go */
        r->published = model_acquire(rl->snap);
        retain_dns_names(r, rl->snap);
    }
    if (first != RELOAD_OK) {
        log_msg(LOG_ERROR, "meshlet run: not starting");
        dns_resolver_free(r->dns);
        etcd_source_fini(&r->etcd);
        tls_upstream_free(etcd_tls);
        if (loop_ready) loop_fini(&r->loop);
        tls_identity_free(identity);
        return first == RELOAD_USAGE ? CLI_USAGE : CLI_ERRORS;
    }

    /* Signals go to a signalfd on the main loop; every thread inherits the mask. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (access_log) {
        char lerr[512];
        popt->access_log = access_log_open(access_log, log_format, lerr, sizeof(lerr));
        if (!popt->access_log) {
            log_msg(LOG_ERROR, "meshlet run: --access-log %s", lerr);
            dns_resolver_free(r->dns);
            etcd_source_fini(&r->etcd);
            tls_upstream_free(etcd_tls);
            if (loop_ready) loop_fini(&r->loop);
            model_release(r->published);
            reload_fini(rl);
            tls_identity_free(identity);
            return CLI_USAGE;
        }
    }
    r->wks = calloc((size_t)workers, sizeof(*r->wks));
    int exit_code = CLI_OK;
    size_t started = 0, inited = 0;
    bool main_loop_ok = r->wks && (loop_ready || loop_init(&r->loop) == 0);
    if (!main_loop_ok && loop_ready) loop_fini(&r->loop);
    r->sig.fd = -1;
    files_zero(&r->files);
    char err[512];
    if (!main_loop_ok) {
        log_msg(LOG_ERROR, "meshlet run: out of resources");
        exit_code = CLI_ERRORS;
        goto stop;
    }
    popt->downstream_cx = &r->downstream_cx;
    popt->max_connections = max_connections >= 0
                                ? (size_t)max_connections
                                : max_connections_default((size_t)workers, rl->snap->n_listeners);
    for (; inited < (size_t)workers; inited++) {
        if (worker_init(&r->wks[inited], (int)inited, rl->snap, popt, err, sizeof(err))) {
            log_msg(LOG_ERROR, "meshlet run: %s", err);
            exit_code = CLI_ERRORS;
            inited++; /* partly set up: worker_join frees what it holds */
            goto stop;
        }
    }
    int admin_rc = admin_init(&r->admin, &r->loop, (struct sockaddr *)&admin_ss, admin_len);
    if (admin_rc) {
        log_msg(LOG_ERROR, "meshlet run: --admin %s: %s", admin_addr, strerror(-admin_rc));
        exit_code = CLI_ERRORS;
        goto stop;
    }
    r->admin.workers = r->wks;
    r->admin.n_workers = (size_t)workers;
    r->admin.snap = rl->snap;
    r->admin.reload = admin_reload;
    r->admin.reload_arg = r;
    r->admin.quit = admin_quit;
    r->admin.quit_arg = r;
    r->admin.popt = popt;
    r->admin.dns = r->dns;
    static struct admin_options admin_opts; /* what /server_info shows */
    admin_opts = (struct admin_options){
        .version = MESHLET_VERSION,
        .config_paths = paths,
        .n_config_paths = n_paths,
        .gateways = gateways,
        .n_gateways = n_gateways,
        .labels = labels,
        .n_labels = n_labels,
        .inbounds = inbound_args,
        .n_inbounds = n_inbounds,
        .ns = ns,
        .listen_address = listen_ip,
        .mesh_listen = mesh_addr,
        .admin_address = admin_addr,
        .identity_dir = identity_dir,
        .credentials_dir = credentials,
        .workload = popt->workload,
        .access_log = access_log,
        .access_log_format = access_log ? (log_format == ACCESS_LOG_JSON ? "json" : "text") : NULL,
        .drain_ms = drain_time_ms,
        .watch = watch_files,
    };
    r->admin.opts = &admin_opts;
    r->sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    r->sig.cb = on_signal;
    if (r->sig.fd < 0 || loop_add(&r->loop, &r->sig, LOOP_IN)) {
        log_msg(LOG_ERROR, "meshlet run: signalfd: %s", strerror(errno));
        exit_code = CLI_ERRORS;
        goto stop;
    }
    int files_rc = watch_files ? files_init(&r->files, &r->loop, paths, n_paths, rl) : 0;
    if (files_rc) {
        log_msg(LOG_ERROR, "meshlet run: watching the config: %s", strerror(-files_rc));
        exit_code = CLI_ERRORS;
        goto stop;
    }
    for (; started < (size_t)workers; started++) {
        if (worker_start(&r->wks[started])) {
            log_msg(LOG_ERROR, "meshlet run: cannot start worker threads");
            exit_code = CLI_ERRORS;
            goto stop;
        }
    }
    for (size_t i = 0; i < rl->snap->n_listeners; i++)
        log_msg(LOG_INFO, "%s on port %u", rl->snap->listeners[i].name,
                rl->snap->listeners[i].port);
    log_msg(LOG_INFO, "%ld worker(s), admin on %s, config version %llu", workers, admin_addr,
            (unsigned long long)rl->snap->version);
    r->sweep.cb = on_sweep;
    on_sweep(&r->sweep);
    if (identity) tls_identity_watch(identity, &r->loop); /* rotation, every second */
    if (etcd_urls) {
        char id[128], host[64] = "meshlet";
        gethostname(host, sizeof(host) - 1);
        const char *port = strrchr(admin_addr, ':');
        snprintf(id, sizeof(id), "%s:%s", host, port ? port + 1 : admin_addr);
        etcd_status_start(&r->status, &r->loop, r->etcd.endpoints, r->etcd.n_endpoints,
                          r->etcd.prefix, instance ? instance : id, admin_addr, 10, rl);
    }
    r->dns_watch.cb = on_dns_watch;
    wheel_arm(&r->loop.wheel, &r->dns_watch, now_ms() + 1000);
    r->dns_warm.cb = on_dns_warm;
    r->dns_warm_until_ms = now_ms() + r->dns_wait_ms;
    on_dns_warm(&r->dns_warm);
    loop_run(&r->loop, NULL, NULL);
    log_msg(LOG_INFO, "stopping");
stop:
    for (size_t i = 0; i < started; i++) worker_stop(&r->wks[i]);
    for (size_t i = 0; i < inited; i++) worker_join(&r->wks[i], i < started);
    access_log_close(popt->access_log);
    admin_fini(&r->admin);
    files_fini(&r->files);
    etcd_status_fini(&r->status);
    etcd_source_fini(&r->etcd);
    tls_upstream_free(etcd_tls);
    wheel_disarm(&r->loop.wheel, &r->dns_reload);
    wheel_disarm(&r->loop.wheel, &r->dns_warm);
    wheel_disarm(&r->loop.wheel, &r->dns_watch);
    wheel_disarm(&r->loop.wheel, &r->dns_hold);
    model_release(r->held);
    r->held = NULL;
    model_release(r->published);
    r->published = NULL;
    dns_resolver_free(r->dns);
    if (r->sig.fd >= 0) close(r->sig.fd);
    tls_identity_free(identity); /* workers are gone: no connection holds a credential */
    if (main_loop_ok) loop_fini(&r->loop);
    free(r->wks);
    reload_fini(rl);
    return exit_code;
}
