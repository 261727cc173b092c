/* SPDX-License-Identifier: Apache-2.0 */
/* Subcommand dispatch, common flags, usage and exit codes. */
#ifndef MESHLET_CLI_CLI_H
#define MESHLET_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MESHLET_VERSION "0.1.0"

/* Exit codes shared by every subcommand. */
enum cli_exit {
    CLI_OK = 0,     /* success; warnings allowed */
    CLI_ERRORS = 1, /* the input has errors */
    CLI_USAGE = 2,  /* bad usage or unreadable input */
};

/* Run the subcommand named in <argv>[1]; returns the process exit code. [M] */
int cli_main(int argc, char **argv);

/* `meshlet validate` and `meshlet check`; <analyze> selects check. */
int cmd_check(int argc, char **argv, int analyze);

/* `meshlet explain`: which route a request takes, and why. */
int cmd_explain(int argc, char **argv);

/* `meshlet run`: serve traffic until SIGTERM/SIGINT. */
int cmd_run(int argc, char **argv);

/* `meshlet ca init|issue`: the mesh CA and workload certificates. */
int cmd_ca(int argc, char **argv);

/* `meshlet apply`, `get`, `delete`: resources in an etcd prefix (cmd_apply.c). */
int cmd_apply(int argc, char **argv);
int cmd_apply_get(int argc, char **argv);
int cmd_apply_delete(int argc, char **argv);

/* meshlet rollout [start|status|abort|resume] (cmd_rollout.c). */
int cmd_rollout(int argc, char **argv);

/* meshlet status --etcd URL (cmd_status.c). */
int cmd_status(int argc, char **argv);

/* Flag values, parsed whole (no sign, space or trailing text a user did not mean). */
/* <text> as a decimal integer in [<min>, <max>] into <out>; false when it is not one. */
bool cli_parse_int(const char *text, long min, long max, long *out);
/* <text> as seconds ("5", "0.3") or a duration ("5s", "300ms", "1m") of at most <max_ms>
 * into <out_ms>; false when it is not one. */
bool cli_parse_seconds(const char *text, uint64_t max_ms, uint64_t *out_ms);
/* The whole of <path>, NUL-terminated, in a new buffer (the caller frees it), its length in
 * <*len>; NULL when it cannot be read (errno says why) or is over a config file's limit. */
char *cli_read_file(const char *path, size_t *len);

/* "NS/NAME" with both parts non-empty and no other '/'. */
bool cli_is_ns_name(const char *text);

struct resource_set;
struct diag_list;

/* Initialise <set> and <dl>, load <paths> (resources without a namespace go to <ns>) and
 * analyse them as `meshlet check` does. Returns config_load()'s result; either way the
 * caller ends with cli_unload(). */
int cli_load(const char *const *paths, size_t n, const char *ns, struct resource_set *set,
             struct diag_list *dl);
void cli_unload(struct resource_set *set, struct diag_list *dl);

/* What `meshlet run` shows as its config digest (/config_dump) for <set> loaded with
 * namespace <ns>: the files' contents (not their names or order) and the namespace. Equal
 * digests mean `explain -c` and the proxy read the same config. */
uint64_t cli_config_digest(const struct resource_set *set, const char *ns);

#endif
