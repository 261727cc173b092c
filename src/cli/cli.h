/* SPDX-License-Identifier: Apache-2.0 */
/* Subcommand dispatch, common flags, usage and exit codes. */
#ifndef MESHLET_CLI_CLI_H
#define MESHLET_CLI_CLI_H

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

#endif
