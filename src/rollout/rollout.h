/* SPDX-License-Identifier: Apache-2.0 */
/* The step machine of a rollout: for each step, write the canary's weight, wait until every
 * proxy has it in force, then watch the step's window of Istio metrics (from the proxies or
 * Prometheus) until its minimum time and canary requests are reached with every check
 * passing (next step), or a check fails (back to 100% stable at once). The state is saved
 * before and after each weight is written, so a crash leaves a known step to resume. [M] */
#ifndef MESHLET_ROLLOUT_ROLLOUT_H
#define MESHLET_ROLLOUT_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/rollout_spec.h"
#include "rollout/analysis.h"
#include "rollout/scrape.h"
#include "rollout/vs_edit.h"

/* Exit codes of `meshlet rollout` past cli.h's 0..2 and the store's 4. */
#define ROLLOUT_EXIT_ROLLED_BACK 3 /* a check failed: 100% stable again */
#define ROLLOUT_EXIT_STOPPED 6     /* aborted, or interrupted (resume continues) */

enum rollout_phase {
    ROLLOUT_PENDING,     /* saved, nothing written yet */
    ROLLOUT_APPLYING,    /* the step's weight is being written */
    ROLLOUT_OBSERVING,   /* the step's weight is in the config: watching its window */
    ROLLOUT_PAUSED,      /* interrupted: `resume` continues with this step */
    ROLLOUT_SUCCEEDED,   /* 100% canary */
    ROLLOUT_ROLLED_BACK, /* a check failed: 100% stable */
    ROLLOUT_ABORTED,     /* `abort`: 100% stable */
    ROLLOUT_FAILED,      /* could not go on (store or proxies unreachable): 100% stable */
};

const char *rollout_phase_name(enum rollout_phase p);
bool rollout_phase_parse(const char *name, enum rollout_phase *out);
/* Whether a rollout in phase <p> has ended (resume refuses it). */
bool rollout_phase_final(enum rollout_phase p);

/* What is persisted, in the state file or key. */
struct rollout_state {
    enum rollout_phase phase;
    int step;   /* index of the step in progress or last done; -1 before the first */
    int weight; /* the canary's weight last written */
    int pid;    /* of the process running it; 0 when none */
    int64_t updated_unix;
    char message[512]; /* why it ended or paused */
};

/* The state as JSON and back. */
struct strbuf;
void rollout_state_json(const struct rollout_state *s, struct strbuf *sb);
int rollout_state_parse(const char *text, size_t len, struct rollout_state *s, char *err,
                        size_t cap);

/* The plan, from a Rollout resource and flags. */
struct rollout_plan {
    const char *name;  /* NS/NAME of the Rollout, for messages and the dashboard */
    const char *vs;    /* NS/NAME of the VirtualService */
    const char *route; /* the http route's name; "" = found by its destinations */
    struct dest_ref stable, canary;
    struct traffic_query q_stable, q_canary;
    size_t n_steps;
    int weight[ROLLOUT_MAX_STEPS + 1];
    uint64_t min_ms[ROLLOUT_MAX_STEPS + 1];
    uint64_t min_requests[ROLLOUT_MAX_STEPS + 1];
    uint64_t interval_ms;
    uint64_t apply_timeout_ms; /* for every proxy to have a written weight in force */
    struct rollout_checks checks;
    unsigned failure_threshold; /* failed evaluations in a row that roll back (>= 1) */
    const char *const *metrics; /* admin HOST:PORT of every proxy */
    size_t n_metrics;
    const char *prometheus; /* URL, or NULL: the checks read the proxies' own metrics */
};

/* Where the weights and the state live: a VirtualService file and a state file, or etcd.
 * Every call returns 0, or -1 with why in <err>. */
struct rollout_store {
    void *arg;
    int (*write_weight)(void *arg, int canary_weight, char *err, size_t cap);
    int (*read_weight)(void *arg, int *canary_weight, char *err, size_t cap);
    int (*save)(void *arg, const struct rollout_state *s, char *err, size_t cap);
    /* 1 with the state, 0 when there is none, -1 on error. */
    int (*load)(void *arg, struct rollout_state *s, char *err, size_t cap);
    /* Held around a transition (state + weight), so an `abort` never interleaves with one. */
    int (*lock)(void *arg, char *err, size_t cap);
    void (*unlock)(void *arg);
};

/* How progress is shown. */
enum rollout_output { ROLLOUT_OUT_TEXT, ROLLOUT_OUT_JSON };

struct rollout_run {
    const struct rollout_plan *plan;
    struct rollout_store *store;
    enum rollout_output output;
    bool tty;                  /* text: redraw one live line per step */
    volatile int *interrupted; /* set by SIGINT/SIGTERM */
};

/* Run <r> from step <from> (0 for a new rollout, the saved step to resume). Returns 0 when
 * the canary has 100%, or one of the exit codes above / CLI's with why said on stderr. */
int rollout_execute(struct rollout_run *r, int from);

/* `abort`: 100% stable and the state ABORTED (the running process sees it at its next tick
 * and stops). 0, or -1 with why. */
int rollout_abort(const struct rollout_plan *plan, struct rollout_store *st, char *err, size_t cap);

#endif
