/* SPDX-License-Identifier: Apache-2.0 */
/* A rollout's saved state: JSON round trip, refusal of what is not a state, phase names;
 * the reach check's verdicts. */
#include <stdio.h>
#include <string.h>

#include "core/strbuf.h"
#include "harness.h"
#include "rollout/analysis.h"
#include "rollout/rollout.h"

static void
test_state_round_trips(void **state)
{
    (void)state;
    struct rollout_state s = {ROLLOUT_OBSERVING, 2, 25, 4242, 1796650000, ""};
    snprintf(s.message, sizeof(s.message), "step 3/5: \"25%%\" canary\n\tand \\ more");
    struct strbuf sb;
    strbuf_init(&sb, 1 << 16);
    rollout_state_json(&s, &sb);
    struct rollout_state back;
    char err[128];
    assert_int_equal(rollout_state_parse(sb.data, sb.len, &back, err, sizeof(err)), 0);
    assert_int_equal(back.phase, ROLLOUT_OBSERVING);
    assert_int_equal(back.step, 2);
    assert_int_equal(back.weight, 25);
    assert_int_equal(back.pid, 4242);
    assert_int_equal(back.updated_unix, 1796650000);
    assert_string_equal(back.message, s.message);
    strbuf_fini(&sb);
}

static void
test_state_refuses_what_is_not_one(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"phase\":\"observing\"}",
        "{\"phase\":\"dancing\",\"step\":1,\"weight\":5}",
        "{\"phase\":\"observing\",\"step\":1,\"weight\":101}",
        "{\"phase\":\"observing\",\"step\":-2,\"weight\":5}",
        "{\"phase\":\"observing\",\"step\":\"one\",\"weight\":5}",
        "{\"phase\":\"observing\",\"step\":1,\"weight\":5",
        "{\"phase\":[1],\"step\":1,\"weight\":5}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rollout_state s;
        char err[128] = "";
        assert_int_equal(rollout_state_parse(bad[i], strlen(bad[i]), &s, err, sizeof(err)), -1);
        assert_string_equal(err, "not a rollout state (phase, step, weight)");
    }
    /* every prefix of a good state is refused or read whole, never half */
    const char *good = "{\"phase\":\"paused\",\"step\":0,\"weight\":10,\"pid\":0,"
                       "\"updated_unix\":1,\"message\":\"x\"}\n";
    for (size_t n = 0; n < strlen(good); n++) {
        struct rollout_state s;
        char err[128];
        int rc = rollout_state_parse(good, n, &s, err, sizeof(err));
        if (!rc) assert_int_equal(s.weight, 10);
    }
}

static void
test_phases_have_names(void **state)
{
    (void)state;
    for (int p = ROLLOUT_PENDING; p <= ROLLOUT_FAILED; p++) {
        enum rollout_phase back;
        assert_true(rollout_phase_parse(rollout_phase_name((enum rollout_phase)p), &back));
        assert_int_equal(back, p);
    }
    assert_true(rollout_phase_final(ROLLOUT_ROLLED_BACK));
    assert_false(rollout_phase_final(ROLLOUT_PAUSED));
    assert_false(rollout_phase_final(ROLLOUT_OBSERVING));
}

static void
test_reach_fails_when_the_canary_answers_few(void **state)
{
    (void)state;
    struct check_outcome o;
    analysis_reach(40, 2, 50, &o);
    assert_true(o.ok);
    assert_false(o.known);
    analysis_reach(500, 4, 50, &o);
    assert_false(o.ok);
    assert_string_equal(o.detail, "canary answered 4 of 500 requests routed to it: its endpoints "
                                  "are ejected or unreachable (503 UH)");
    analysis_reach(500, 499, 50, &o);
    assert_true(o.ok && o.known);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_round_trips),
        cmocka_unit_test(test_state_refuses_what_is_not_one),
        cmocka_unit_test(test_phases_have_names),
        cmocka_unit_test(test_reach_fails_when_the_canary_answers_few),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
