/* SPDX-License-Identifier: Apache-2.0 */
/* `meshlet run`: load and check the config (refusing to start on errors), compile the
 * snapshot, start the workers and the admin server, and stop cleanly on SIGTERM/SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin.h"
#include "cli/cli.h"
#include "config/config.h"
#include "core/compiler.h"
#include "core/loop.h"
#include "core/now.h"
#include "core/sock.h"
#include "core/strbuf.h"
#include "http/worker.h"
#include "lb/lb.h"
#include "lb/outlier.h"
#include "model/model.h"
#include "tls/conn.h"

struct run_signals {
    struct loop_watch w;
    struct loop *loop;
};

static void
on_signal(struct loop_watch *w, unsigned events)
{
    (void)events;
    struct run_signals *s = container_of(w, struct run_signals, w);
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) loop_stop(s->loop);
    }
}

/* Outlier detection's interval sweeps run on the main thread (DESIGN.md). */
struct run_sweep {
    struct wheel_timer t;
    struct loop *loop;
    const struct snapshot *snap;
};

static void
on_sweep(struct wheel_timer *t)
{
    struct run_sweep *sw = container_of(t, struct run_sweep, t);
    uint64_t next = outlier_sweep(sw->snap, now_ms());
    if (next != UINT64_MAX) wheel_arm(&sw->loop->wheel, &sw->t, next);
}

static void
free_gateway_tls(struct tls_gateway **g, size_t n)
{
    for (size_t i = 0; g && i < n; i++) tls_gateway_free(g[i]);
    free(g);
}

static void
free_upstream_tls(struct tls_upstream **u, size_t n)
{
    for (size_t i = 0; u && i < n; i++) tls_upstream_free(u[i]);
    free(u);
}

/* "PORT=HOST:PORT" (HOST an IP or a name; [v6]:PORT) into <in>, the host kept in <host>. */
static int
parse_inbound(const char *arg, struct model_inbound *in, char host[256])
{
    char *end;
    unsigned long port = strtoul(arg, &end, 10);
    if (*end != '=' || !port || port > 65535) return -1;
    const char *addr = end + 1, *colon = strrchr(addr, ':');
    if (!colon || colon == addr) return -1;
    size_t hl = (size_t)(colon - addr);
    if (addr[0] == '[' && colon[-1] == ']') {
        addr++;
        hl -= 2;
    }
    unsigned long app_port = strtoul(colon + 1, &end, 10);
    if (*end || !app_port || app_port > 65535 || hl >= 256) return -1;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    in->port = (uint16_t)port;
    in->app_address = host;
    in->app_port = (uint16_t)app_port;
    return 0;
}

/* Certificate rotation: the identity files are checked every second; when they changed and
 * load (a key that does not match its certificate yet means a rotation half done: retried),
 * new connections take the new identity. Old ones stay alive until exit: open connections
 * still use them. */
struct run_identity {
    struct wheel_timer t;
    struct loop *loop;
    struct proxy_options *popt;
    const char *dir;
    struct stat chain, key;
    struct tls_identity *old[64];
    size_t n_old;
};

static bool
same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void
identity_stat(const char *dir, struct stat *chain, struct stat *key)
{
    char path[4096];
    memset(chain, 0, sizeof(*chain));
    memset(key, 0, sizeof(*key));
    snprintf(path, sizeof(path), "%s/cert-chain.pem", dir);
    stat(path, chain);
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    stat(path, key);
}

static void
on_identity_check(struct wheel_timer *t)
{
    struct run_identity *ri = container_of(t, struct run_identity, t);
    struct stat chain, key;
    identity_stat(ri->dir, &chain, &key);
    if ((!same_file(&chain, &ri->chain) || !same_file(&key, &ri->key)) && ri->n_old < 64) {
        char err[1024];
        struct tls_identity *id = tls_identity_load(ri->dir, err, sizeof(err));
        if (id) {
            ri->old[ri->n_old++] = atomic_exchange(&ri->popt->identity, id);
            ri->chain = chain;
            ri->key = key;
            fprintf(stderr, "meshlet: identity %s reloaded from %s\n", tls_identity_spiffe(id),
                    ri->dir);
        }
    }
    wheel_arm(&ri->loop->wheel, &ri->t, now_ms() + 1000);
}

static void
usage(FILE *f)
{
    fprintf(
        f, "usage: meshlet run -c PATH [-c PATH]... [options]\n"
           "  -c, --config PATH        config files or directories (repeatable)\n"
           "  -w, --workers N          worker threads (default: number of CPUs)\n"
           "      --admin ADDR         admin server (default 127.0.0.1:15000)\n"
           "      --listen-address IP  address Gateway listeners bind (default 0.0.0.0)\n"
           "      --mesh-listen ADDR   the mesh listener (default 127.0.0.1:15001)\n"
           "  -n, --namespace NS       this proxy's namespace (default: default)\n"
           "      --gateway NS/NAME    serve only these Gateways (repeatable; default all)\n"
           "      --identity DIR       workload certificate for ISTIO_MUTUAL: cert-chain.pem,\n"
           "                           key.pem, root-cert.pem (see `meshlet ca issue`)\n"
           "      --inbound PORT=ADDR  a sidecar listener on PORT in front of the app at\n"
           "                           ADDR (HOST:PORT), mTLS as PeerAuthentication says\n"
           "      --label K=V          this workload's labels (PeerAuthentication selectors)\n"
           "      --credentials DIR    Gateway credentialName X: DIR/X/tls.crt, tls.key, ca.crt\n");
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
        OPT_LABEL,
        OPT_CREDENTIALS
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
        {"label", required_argument, NULL, OPT_LABEL},
        {"credentials", required_argument, NULL, OPT_CREDENTIALS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *paths[64], *gateways[64], *labels[64];
    size_t n_paths = 0, n_gateways = 0, n_labels = 0, n_inbounds = 0;
    struct model_inbound inbounds[16];
    char inbound_hosts[16][256];
    long workers = sysconf(_SC_NPROCESSORS_ONLN);
    const char *admin_addr = "127.0.0.1:15000", *listen_ip = "0.0.0.0";
    const char *mesh_addr = "127.0.0.1:15001", *ns = "default", *identity_dir = NULL;
    const char *credentials = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:w:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (n_paths < 64) paths[n_paths++] = optarg;
            break;
        case 'w': workers = strtol(optarg, NULL, 10); break;
        case 'n': ns = optarg; break;
        case OPT_ADMIN: admin_addr = optarg; break;
        case OPT_LISTEN: listen_ip = optarg; break;
        case OPT_MESH: mesh_addr = optarg; break;
        case OPT_IDENTITY: identity_dir = optarg; break;
        case OPT_CREDENTIALS: credentials = optarg; break;
        case OPT_LABEL:
            if (n_labels < 64 && strchr(optarg, '=')) labels[n_labels++] = optarg;
            break;
        case OPT_INBOUND:
            if (n_inbounds >= 16 ||
                parse_inbound(optarg, &inbounds[n_inbounds], inbound_hosts[n_inbounds])) {
                fprintf(stderr, "meshlet run: --inbound %s: expected PORT=HOST:PORT\n", optarg);
                return CLI_USAGE;
            }
            n_inbounds++;
            break;
        case OPT_GATEWAY:
            if (n_gateways < 64) gateways[n_gateways++] = optarg;
            break;
        case 'h': usage(stdout); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    for (; optind < argc && n_paths < 64; optind++) paths[n_paths++] = argv[optind];
    if (!n_paths || workers < 1 || workers > 256) {
        usage(stderr);
        return CLI_USAGE;
    }

    struct proxy_options popt;
    memset(&popt, 0, sizeof(popt));
    h1_limits_default(&popt.limits);
    char gw[160];
    snprintf(gw, sizeof(gw), strchr(listen_ip, ':') ? "[%s]:0" : "%s:0", listen_ip);
    struct sockaddr_storage admin_ss;
    socklen_t admin_len;
    if (sock_parse_addr(gw, &popt.gateway_addr, &popt.gateway_addr_len) ||
        sock_parse_addr(mesh_addr, &popt.mesh_addr, &popt.mesh_addr_len) ||
        sock_parse_addr(admin_addr, &admin_ss, &admin_len)) {
        fprintf(stderr, "meshlet run: bad address in --listen-address, --mesh-listen or --admin\n");
        return CLI_USAGE;
    }

    /* The workload identity for ISTIO_MUTUAL (cert-chain.pem, key.pem, root-cert.pem). */
    char id_err[1024];
    struct tls_identity *identity = NULL;
    if (identity_dir && !(identity = tls_identity_load(identity_dir, id_err, sizeof(id_err)))) {
        fprintf(stderr, "meshlet run: --identity: %s\n", id_err);
        return CLI_USAGE;
    }
    popt.identity = identity;

    /* Refuse to serve a config that does not pass `meshlet check`. */
    struct resource_set set;
    struct diag_list dl;
    uint64_t t_load = now_us_precise();
    int rc = cli_load(paths, n_paths, ns, &set, &dl);
    uint64_t t_build = now_us_precise();
    struct strbuf sb;
    strbuf_init(&sb, 1 << 24);
    diag_list_format(&dl, false, &sb);
    fputs(strbuf_str(&sb), stderr);
    strbuf_fini(&sb);
    if (rc || dl.errors) {
        fprintf(stderr, "meshlet run: the config has %zu error(s); not starting\n", dl.errors);
        cli_unload(&set, &dl);
        tls_identity_free(identity);
        return rc ? CLI_USAGE : CLI_ERRORS;
    }
    struct model_options mopt = {.gateways = gateways, .n_gateways = n_gateways, .ns = ns};
    mopt.prepare_cluster = lb_prepare_cluster;
    if (identity) mopt.trust_domain = tls_identity_trust_domain(identity);
    mopt.inbounds = inbounds;
    mopt.n_inbounds = n_inbounds;
    mopt.labels = labels;
    mopt.n_labels = n_labels;
    mopt.credentials_dir = credentials;
    mopt.mesh_port = popt.mesh_addr.ss_family == AF_INET6
                         ? ntohs(((const struct sockaddr_in6 *)&popt.mesh_addr)->sin6_port)
                         : ntohs(((const struct sockaddr_in *)&popt.mesh_addr)->sin_port);
    /* Say plainly what is not enforced yet rather than pretend. */
    for (size_t i = 0; i < set.len; i++) {
        const struct resource *r = set.items[i];

        const struct traffic_policy *tp =
            r->kind == KIND_DESTINATION_RULE && r->spec.dr ? r->spec.dr->traffic_policy : NULL;
        if (tp && tp->load_balancer && tp->load_balancer->simple.set &&
            tp->load_balancer->simple.v == LB_PASSTHROUGH) {
            fprintf(stderr,
                    "meshlet: note: DestinationRule %s/%s asks for PASSTHROUGH (the original "
                    "destination of intercepted traffic); meshlet intercepts nothing and "
                    "balances round robin over the endpoints instead\n",
                    r->ns, r->name);
        }
    }
    char err[512];
    struct snapshot *snap = model_build(&set, &mopt, err, sizeof(err));
    cli_unload(&set, &dl);
    if (!snap) {
        fprintf(stderr, "meshlet run: %s\n", err);
        tls_identity_free(identity);
        return CLI_ERRORS;
    }
    /* Gateway servers that terminate TLS: their certificates now, or no start. */
    size_t n_gw_tls = snap->n_listeners;
    struct tls_gateway **gw_tls = calloc(n_gw_tls + 1, sizeof(*gw_tls));
    bool any_gw_tls = false;
    for (size_t i = 0; gw_tls && i < snap->n_listeners; i++) {
        const struct model_listener *l = &snap->listeners[i];
        if (!l->n_tls) continue;
        char gerr[1024] = "out of memory";
        bool ok = (gw_tls[i] = tls_gateway_new()) != NULL;
        for (size_t k = 0; ok && k < l->n_tls; k++) {
            const struct model_tls_server *ts = &l->tls[k];
            ok =
                !tls_gateway_add(gw_tls[i], ts->hosts, ts->n_hosts, ts->cert, ts->key, ts->ca,
                                 ts->min_version, ts->max_version, ts->ciphers, gerr, sizeof(gerr));
        }
        if (!ok) {
            fprintf(stderr, "meshlet run: %s (port %u) TLS: %s\n", l->name, l->port, gerr);
            free_gateway_tls(gw_tls, n_gw_tls);
            model_release(snap);
            tls_identity_free(identity);
            return CLI_USAGE;
        }
        any_gw_tls = true;
    }
    popt.listener_tls = any_gw_tls ? gw_tls : NULL;
    /* SIMPLE/MUTUAL upstream TLS: the DestinationRules' files now, or no start. */
    size_t n_up_tls = snap->n_clusters;
    struct tls_upstream **up_tls = calloc(n_up_tls + 1, sizeof(*up_tls));
    for (size_t i = 0; up_tls && i < n_up_tls; i++) {
        const struct model_cluster *cl = snap->clusters[i];
        if (!cl->tls_user) continue;
        char uerr[1024];
        up_tls[cl->index] = tls_upstream_load(cl->tls_ca, cl->tls_cert, cl->tls_key,
                                              cl->tls_insecure, uerr, sizeof(uerr));
        if (!up_tls[cl->index]) {
            fprintf(stderr, "meshlet run: %s TLS: %s\n", cl->name, uerr);
            free_upstream_tls(up_tls, n_up_tls);
            free_gateway_tls(gw_tls, n_gw_tls);
            model_release(snap);
            tls_identity_free(identity);
            return CLI_USAGE;
        }
    }
    popt.cluster_tls = up_tls;
    /* A STRICT inbound port cannot work without a certificate to serve. */
    for (size_t i = 0; !identity && i < snap->n_listeners; i++) {
        if (snap->listeners[i].inbound && snap->listeners[i].peer_mode == MODEL_PEER_STRICT) {
            fprintf(stderr, "meshlet run: %s is STRICT (PeerAuthentication) and needs --identity\n",
                    snap->listeners[i].name);
            free_gateway_tls(gw_tls, n_gw_tls);
            free_upstream_tls(up_tls, n_up_tls);
            model_release(snap);
            return CLI_USAGE;
        }
    }
    /* mTLS endpoints without an identity to present would all fail: say so now. */
    for (size_t i = 0; !identity && i < snap->n_clusters; i++) {
        const struct model_cluster *cl = snap->clusters[i];
        bool mtls = false;
        for (size_t e = 0; e < cl->n_endpoints; e++) mtls |= cl->endpoints[e].mtls;
        if (mtls)
            fprintf(stderr,
                    "meshlet: warning: %s is ISTIO_MUTUAL (or automatic mTLS) but no "
                    "--identity was given: its connections will fail (503 UF)\n",
                    cl->name);
    }
    uint64_t t_done = now_us_precise();
    fprintf(stderr,
            "meshlet: config loaded and checked in %.1f ms; snapshot built in %.1f ms "
            "(%zu listeners, %zu routes, %zu clusters)\n",
            (double)(t_build - t_load) / 1000, (double)(t_done - t_build) / 1000, snap->n_listeners,
            snap->n_routes, snap->n_clusters);

    /* Signals go to a signalfd on the main loop; every thread inherits the mask. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct loop main_loop;
    struct worker *wks = calloc((size_t)workers, sizeof(*wks));
    struct admin admin;
    memset(&admin, 0, sizeof(admin));
    int exit_code = CLI_OK;
    size_t started = 0, inited = 0;
    bool main_loop_ok = wks && loop_init(&main_loop) == 0;
    if (!main_loop_ok) {
        fprintf(stderr, "meshlet run: out of resources\n");
        free(wks);
        free_gateway_tls(gw_tls, n_gw_tls);
        free_upstream_tls(up_tls, n_up_tls);
        model_release(snap);
        tls_identity_free(identity);
        return CLI_ERRORS;
    }
    for (; inited < (size_t)workers; inited++) {
        if (worker_init(&wks[inited], (int)inited, snap, &popt, err, sizeof(err))) {
            fprintf(stderr, "meshlet run: %s\n", err);
            exit_code = CLI_ERRORS;
            inited++; /* partly set up: worker_join frees what it holds */
            goto stop;
        }
    }
    if (admin_init(&admin, &main_loop, (struct sockaddr *)&admin_ss, admin_len)) {
        fprintf(stderr, "meshlet run: admin server on %s: %s\n", admin_addr, strerror(errno));
        exit_code = CLI_ERRORS;
        goto stop;
    }
    admin.workers = wks;
    admin.n_workers = (size_t)workers;
    admin.snap = snap;
    struct run_signals sigs = {.loop = &main_loop};
    sigs.w.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    sigs.w.cb = on_signal;
    if (sigs.w.fd < 0 || loop_add(&main_loop, &sigs.w, LOOP_IN)) {
        fprintf(stderr, "meshlet run: signalfd: %s\n", strerror(errno));
        exit_code = CLI_ERRORS;
        goto stop;
    }
    for (; started < (size_t)workers; started++) {
        if (worker_start(&wks[started])) {
            fprintf(stderr, "meshlet run: cannot start worker threads\n");
            exit_code = CLI_ERRORS;
            goto stop;
        }
    }
    for (size_t i = 0; i < snap->n_listeners; i++)
        fprintf(stderr, "meshlet: %s on port %u\n", snap->listeners[i].name,
                snap->listeners[i].port);
    fprintf(stderr, "meshlet: %ld worker(s), admin on %s, config version %llu\n", workers,
            admin_addr, (unsigned long long)snap->version);
    struct run_sweep sweep = {.t.cb = on_sweep, .loop = &main_loop, .snap = snap};
    on_sweep(&sweep.t);
    static struct run_identity rotation; /* large; one per process */
    memset(&rotation, 0, sizeof(rotation));
    rotation.t.cb = on_identity_check;
    rotation.loop = &main_loop;
    rotation.popt = &popt;
    rotation.dir = identity_dir;
    if (identity_dir) {
        identity_stat(identity_dir, &rotation.chain, &rotation.key);
        wheel_arm(&main_loop.wheel, &rotation.t, now_ms() + 1000);
    }
    admin.ready = true;
    loop_run(&main_loop, NULL, NULL);
    fprintf(stderr, "meshlet: stopping\n");
    close(sigs.w.fd);
stop:
    for (size_t i = 0; i < started; i++) worker_stop(&wks[i]);
    for (size_t i = 0; i < inited; i++) worker_join(&wks[i], i < started);
    admin_fini(&admin);
    if (main_loop_ok) loop_fini(&main_loop);
    free(wks);
    model_release(snap);
    tls_identity_free(atomic_load(&popt.identity));
    for (size_t i = 0; i < rotation.n_old; i++) tls_identity_free(rotation.old[i]);
    free_gateway_tls(gw_tls, n_gw_tls);
    free_upstream_tls(up_tls, n_up_tls);
    return exit_code;
}
