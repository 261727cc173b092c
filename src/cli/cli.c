/* SPDX-License-Identifier: Apache-2.0 */
/* The subcommand table and top-level usage (each subcommand parses its own flags), and the
 * config loading that run and explain share. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/field.h"
#include "config/source.h"
#include "core/strbuf.h"

char *
cli_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct strbuf sb;
    strbuf_init(&sb, SOURCE_MAX_FILE_BYTES);
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0) strbuf_add(&sb, chunk, k);
    int failed = ferror(f);
    fclose(f);
    if (sb.truncated || failed) {
        strbuf_fini(&sb);
        errno = failed ? EIO : EFBIG;
        return NULL;
    }
    *len = sb.len;
    return sb.data ? sb.data : strdup("");
}

static int
cmd_validate(int argc, char **argv)
{
    return cmd_check(argc, argv, 0);
}

static int
cmd_analyze(int argc, char **argv)
{
    return cmd_check(argc, argv, 1);
}

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"validate", cmd_validate, "check each resource on its own, as `istioctl validate`"},
    {"check", cmd_analyze,
     "validate, then check references across resources, as `istioctl analyze`"},
    {"explain", cmd_explain, "which listener, virtual host and route a request takes, and why"},
    {"run", cmd_run, "serve HTTP/1.1 traffic as the config says (Gateways and the mesh listener)"},
    {"apply", cmd_apply, "write resources to an etcd config store, checked, in one transaction"},
    {"get", cmd_apply_get, "list or print the resources an etcd config store holds"},
    {"delete", cmd_apply_delete, "delete resources from an etcd config store, checked"},
    {"ca", cmd_ca, "a mesh root CA and SPIFFE workload certificates (init, issue)"},
    {"rollout", cmd_rollout,
     "shift a route from stable to canary step by step, checked, rolled back on failure"},
    {"status", cmd_status, "the instances following an etcd store and the config each serves"},
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: meshlet <command> [options] PATH...\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "version", "print the version");
    fprintf(f, "\n`meshlet help <command>` (or `meshlet <command> --help`) tells a command's "
               "options\nand exit statuses: 0 success, 2 usage errors or unreadable input, 1 "
               "and others\nas the command's help says.\n");
}

int
cli_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") && argc >= 3) { /* `meshlet help run` is `meshlet run --help` */
        char *help_argv[] = {argv[2], "--help", NULL};
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            if (!strcmp(argv[2], commands[i].name)) return commands[i].fn(2, help_argv);
        fprintf(stderr, "meshlet help: unknown command \"%s\"\n\n", argv[2]);
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(name, "version") || !strcmp(name, "--version")) {
        printf("meshlet %s\n", MESHLET_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(name, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "meshlet: unknown command \"%s\"\n\n", name);
    usage(stderr);
    return CLI_USAGE;
}

int
cli_load(const char *const *paths, size_t n, const char *ns, struct resource_set *set,
         struct diag_list *dl)
{
    config_init(set);
    diag_list_init(dl);
    struct config_options copt = {.default_ns = ns};
    int rc = config_load(set, paths, n, &copt, dl);
    if (!rc) config_analyze(set, dl);
    return rc;
}

void
cli_unload(struct resource_set *set, struct diag_list *dl)
{
    diag_list_fini(dl);
    config_fini(set);
}

uint64_t
cli_config_digest(const struct resource_set *set, const char *ns)
{
    return config_digest(set, ns);
}

bool
cli_parse_int(const char *text, long min, long max, long *out)
{
    if (!*text || !(*text == '-' || (*text >= '0' && *text <= '9'))) return false;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (*end || errno || v < min || v > max) return false;
    *out = v;
    return true;
}

bool
cli_parse_seconds(const char *text, uint64_t max_ms, uint64_t *out_ms)
{
    if (!*text || !((*text >= '0' && *text <= '9') || *text == '.')) return false;
    char *end;
    double secs = strtod(text, &end);
    if (!*end) {
        if (!isfinite(secs) || secs < 0 || secs * 1000 > (double)max_ms) return false;
        *out_ms = (uint64_t)(secs * 1000 + 0.5);
        return true;
    }
    int64_t ns;
    if (field_parse_duration(text, &ns) || ns < 0 || (uint64_t)ns / 1000000 > max_ms) return false;
    *out_ms = (uint64_t)ns / 1000000;
    return true;
}

bool
cli_is_ns_name(const char *text)
{
    const char *slash = strchr(text, '/');
    return slash && slash != text && slash[1] && !strchr(slash + 1, '/');
}
