/*
 * test_chaos_kill.c - berthd killed with SIGKILL at random points (chaos suite 2a).
 *
 * Launch, stop, restart and remove loops, a SIGKILL at a random moment, then
 * a restart: every answered call kept its word, and the registry and Docker
 * agree exactly.
 *
 * The framework (level, report, invariants, load) is tests/support/chaos.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos.h"
#include "clock.h"
#include "engine/docker.h"

/* --- 2a. SIGKILL at random points of launch, stop, restart and remove loops ------------ */

/* What a service must look like after the restart, from the calls answered before the kill. */
enum expect { E_UNKNOWN, E_RUNNING, E_STOPPED, E_NOT_RUNNING, E_ABSENT };

enum kill_kind { K_LAUNCH, K_STOP, K_RESTART, K_REMOVE, K_COUNT };
static const char *const kill_kind_names[K_COUNT] = { "launch", "stop", "restart", "remove" };

#define KILL_WORKERS 3
#define KILL_TRACKED 48
#define KILL_CALL_TIMEOUT_MS 2000
#define KILL_MAX_ROWS 12

/*
 * What the calls answered before the kill promise, per service id, shared
 * by the round's workers: ids come back (a launch takes the lowest free
 * instance_N), so a removal's promise is void once another launch may have
 * taken the id again. Each service belongs to one worker, which alone
 * calls on it.
 */
struct tracked {
	char id[ID_LEN];
	enum expect expect;
	int owner; /* worker index */
};

struct promises {
	pthread_mutex_t lock; /* guards everything below */
	struct tracked svc[KILL_TRACKED];
	int n;
	int launches_cut; /* launches whose answer never came: they may have taken any id */
};

struct kill_worker {
	berth_client *c;
	int index;
	enum kill_kind kind;
	const char *tpl;
	unsigned seed;
	atomic_bool *killing;
	struct promises *p;
	unsigned answered, unknown;
};

/* Records `e` for id (a new entry owned by `owner`, or the existing one, which it now owns). */
static void
promise(struct promises *p, int owner, const char *id, enum expect e)
{
	int i;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n && strcmp(p->svc[i].id, id) != 0; i++)
		;
	if (i == p->n && p->n < KILL_TRACKED)
		snprintf(p->svc[p->n++].id, ID_LEN, "%s", id);
	if (i < p->n) {
		p->svc[i].expect = e;
		p->svc[i].owner = owner;
	}
	pthread_mutex_unlock(&p->lock);
}

/*
 * An answered call is a promise the restart must keep; a call that failed
 * because berthd died under it may or may not have happened; any other
 * failure before the kill is a violation (and its outcome unknown too).
 */
static void
settle_call(struct kill_worker *w, const char *id, enum chaos_op op, int rc, const berth_status *st,
    enum expect on_ok)
{
	promise(w->p, w->index, id, rc == 0 ? on_ok : E_UNKNOWN);
	if (rc == 0) {
		w->answered++;
		return;
	}
	w->unknown++;
	if (!atomic_load(w->killing))
		chaos_violation("kill round: %s %s answered %s before the kill: %s", chaos_op_names[op], id,
		    berth_code_name(rc), st->message);
}

/* One of w's services whose state is known and matches `want` (E_UNKNOWN: any); its id into id. */
static bool
pick_tracked(struct kill_worker *w, enum expect want, char *id, enum expect *state)
{
	struct promises *p = w->p;
	bool found = false;
	int start;

	pthread_mutex_lock(&p->lock);
	start = p->n > 0 ? chaos_rnd_between(&w->seed, 0, p->n - 1) : 0;
	for (int k = 0; k < p->n && !found; k++) {
		const struct tracked *t = &p->svc[(start + k) % p->n];

		if (t->owner != w->index || t->expect == E_UNKNOWN || t->expect == E_ABSENT)
			continue;
		if (want == E_UNKNOWN || t->expect == want ||
		    (want == E_STOPPED && t->expect == E_NOT_RUNNING)) {
			snprintf(id, ID_LEN, "%s", t->id);
			*state = t->expect;
			found = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return found;
}

static void *
kill_worker_main(void *arg)
{
	struct kill_worker *w = arg;
	bool launch_next = true;

	while (!atomic_load(w->killing)) {
		berth_status st = { 0 };
		enum expect state;
		char id[ID_LEN];
		int rc;

		switch (w->kind) {
		case K_REMOVE:
			if (!launch_next && pick_tracked(w, E_RUNNING, id, &state)) {
				rc = chaos_by_id(w->c, OP_REMOVE, id, 0, &st);
				settle_call(w, id, OP_REMOVE, rc, &st, E_ABSENT);
				launch_next = true;
				break;
			}
			launch_next = false;
			/* launch one to remove next */
			__attribute__((fallthrough));
		case K_LAUNCH:
			rc = chaos_launch(w->c, w->tpl, id, NULL, &st);
			if (rc == 0) {
				promise(w->p, w->index, id, E_RUNNING);
				w->answered++;
				break;
			}
			w->unknown++;
			pthread_mutex_lock(&w->p->lock);
			w->p->launches_cut++;
			pthread_mutex_unlock(&w->p->lock);
			if (!atomic_load(w->killing))
				chaos_violation("kill round: LaunchService answered %s before the kill: %s",
				    berth_code_name(rc), st.message);
			break;
		case K_STOP:
			if (!pick_tracked(w, E_UNKNOWN, id, &state)) {
				clock_sleep_ms(20); /* pacing: nothing to call on yet */
				break;
			}
			if (state == E_RUNNING) {
				rc = chaos_by_id(w->c, OP_STOP, id, 1, &st);
				settle_call(w, id, OP_STOP, rc, &st, E_STOPPED);
			} else {
				rc = chaos_by_id(w->c, OP_RESTART, id, 0, &st);
				settle_call(w, id, OP_RESTART, rc, &st, E_RUNNING);
			}
			break;
		case K_RESTART:
			if (!pick_tracked(w, E_UNKNOWN, id, &state)) {
				clock_sleep_ms(20); /* pacing: nothing to call on yet */
				break;
			}
			rc = chaos_by_id(w->c, OP_RESTART, id, 0, &st);
			settle_call(w, id, OP_RESTART, rc, &st, E_RUNNING);
			break;
		default:
			return NULL;
		}
	}
	return NULL;
}

/* Was every answered call's promise kept? Checks the rows after the restart. */
static void
check_promises(struct promises *p, const char *when)
{
	Berth__V1__ListServicesResponse *list = chaos_list(chaos_dmn.e.client, NULL);
	unsigned long checks = 0;

	if (list == NULL) {
		chaos_violation("%s: ListServices failed after the restart", when);
		return;
	}
	for (int i = 0; i < p->n; i++) {
		const struct tracked *t = &p->svc[i];
		const Berth__V1__Service *row = chaos_find_row(list, t->id);
		const char *status = row != NULL ? row->status : "absent";
		bool ok = true;

		switch (t->expect) {
		case E_UNKNOWN:
			continue;
		case E_RUNNING:
			ok = strcmp(status, "running") == 0;
			break;
		case E_STOPPED:
			ok = strcmp(status, "stopped") == 0;
			break;
		case E_NOT_RUNNING:
			ok = strcmp(status, "stopped") == 0 || strcmp(status, "exited") == 0 ||
			    strcmp(status, "dead") == 0;
			break;
		case E_ABSENT:
			if (p->launches_cut > 0)
				continue; /* a launch cut short may have taken the id again */
			ok = row == NULL;
			break;
		}
		checks++;
		if (!ok)
			chaos_violation("%s: %s was answered as %s before the kill, its row says %s", when,
			    t->id,
			    t->expect == E_RUNNING ? "running"
			    : t->expect == E_ABSENT ? "removed"
						    : "stopped",
			    status);
	}
	chaos_checked(checks);
	berth_reply_free(&list->base);
}

/* Launches through the main client until `want` rows exist, or trims them to `want`. */
static void
adjust_rows(const char *tpl, int want_at_least, int want_at_most)
{
	Berth__V1__ListServicesResponse *list = chaos_list(chaos_dmn.e.client, NULL);
	int n = list != NULL ? (int)list->n_services : 0;
	berth_status st;

	for (int i = n - 1; list != NULL && i >= 0 && n > want_at_most; i--, n--)
		chaos_by_id(chaos_dmn.e.client, OP_REMOVE, list->services[i]->service_id, 0, NULL);
	berth_reply_free((ProtobufCMessage *)list);
	for (; n < want_at_least; n++)
		if (chaos_launch(chaos_dmn.e.client, tpl, NULL, NULL, &st) != 0)
			chaos_violation("kill rounds: preparing launch answered %s: %s", berth_code_name(st.code),
			    st.message);
}

static void
kill_round(int round, enum kill_kind kind, const char *tpl, unsigned *rs)
{
	static struct kill_worker w[KILL_WORKERS];
	static struct promises p = { .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t threads[KILL_WORKERS];
	atomic_bool killing = false;
	Berth__V1__ListServicesResponse *list;
	unsigned answered = 0, unknown = 0;
	size_t next_row = 0;
	char when[128];
	int delay;

	if (kind == K_STOP || kind == K_RESTART)
		adjust_rows(tpl, 2 * KILL_WORKERS, KILL_MAX_ROWS);
	else
		adjust_rows(tpl, 0, KILL_MAX_ROWS / 2);
	list = chaos_list(chaos_dmn.e.client, NULL);
	assert_non_null(list);
	p.n = 0;
	p.launches_cut = 0;
	for (int k = 0; k < KILL_WORKERS; k++) {
		berth_status st;

		memset(&w[k], 0, sizeof(w[k]));
		w[k].index = k;
		w[k].kind = kind;
		w[k].tpl = tpl;
		w[k].seed = chaos_rnd(rs);
		w[k].killing = &killing;
		w[k].p = &p;
		if (berth_open(&w[k].c, chaos_dmn.e.proc.url, &(berth_options){ NULL, KILL_CALL_TIMEOUT_MS },
			&st) != 0)
			fail_msg("berth_open: %s", st.message);
		/* Two rows each to stop or restart, in the state the registry gives. */
		for (int j = 0; (kind == K_STOP || kind == K_RESTART) && j < 2; j++) {
			while (next_row < list->n_services &&
			    strcmp(list->services[next_row]->status, "missing") == 0)
				next_row++;
			if (next_row == list->n_services)
				break;
			promise(&p, k, list->services[next_row]->service_id,
			    strcmp(list->services[next_row]->status, "running") == 0 ? E_RUNNING
										     : E_NOT_RUNNING);
			next_row++;
		}
	}
	berth_reply_free(&list->base);

	for (int k = 0; k < KILL_WORKERS; k++)
		assert_int_equal(pthread_create(&threads[k], NULL, kill_worker_main, &w[k]), 0);
	delay = chaos_rnd_between(rs, 50, chaos_lv->kill_max_delay_ms);
	clock_sleep_ms(delay); /* deliberate: the kill lands at a random moment */
	atomic_store(&killing, true);
	chaos_daemon_kill(&chaos_dmn);
	for (int k = 0; k < KILL_WORKERS; k++) {
		pthread_join(threads[k], NULL);
		berth_close(w[k].c);
		answered += w[k].answered;
		unknown += w[k].unknown;
	}
	snprintf(when, sizeof(when), "kill round %d (%s loop, SIGKILL after %d ms)", round,
	    kill_kind_names[kind], delay);
	if (chaos_daemon_restart(&chaos_dmn) != 0) {
		chaos_violation("%s: berthd did not start again", when);
		fail_msg("%s: berthd did not start again", when);
	}
	chaos_check_agreement(&chaos_dmn, when, 3000);
	check_promises(&p, when);
	printf("# %s: %u calls answered before, %u cut short; registry and Docker checked\n", when,
	    answered, unknown);
}

/* 3. SIGKILL at random moments of the four lifecycle loops; a restart each time. */
static void
test_sigkill_at_random_points_keeps_every_answered_call_and_the_registry_true(void **state)
{
	unsigned before = atomic_load(&chaos_report.violations), rs = chaos_seed ^ 0x5bd1e995u;
	char tpl[40];

	(void)state;
	chaos_tpl_name(tpl, sizeof(tpl), "kill");
	assert_int_equal(chaos_daemon_start(&chaos_dmn, "kill", NULL), 0);
	chaos_demo_template(&chaos_dmn, tpl, chaos_slice(2), SLICE_PORTS, 2, NULL, 0);
	for (int round = 0; round < chaos_lv->kill_rounds; round++)
		kill_round(round + 1, (enum kill_kind)((round + chaos_seed) % K_COUNT), tpl, &rs);
	/* And berthd still launches, on a port no row holds. */
	adjust_rows(tpl, 0, 0);
	if (chaos_launch(chaos_dmn.e.client, tpl, NULL, NULL, NULL) != 0)
		chaos_violation("after the kill rounds: a launch failed");
	chaos_check_agreement(&chaos_dmn, "after the kill rounds", 3000);
	chaos_expect_no_violations_since(before);
}

static int
setup_group(void **state)
{
	(void)state;
	return chaos_setup_group("kill");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_sigkill_at_random_points_keeps_every_answered_call_and_the_registry_true, chaos_teardown_test),
	};

	/* BERTH_CHAOS_ONLY='*outage*' runs the matching tests only. */
	if (getenv("BERTH_CHAOS_ONLY") != NULL)
		cmocka_set_test_filter(getenv("BERTH_CHAOS_ONLY"));
	return cmocka_run_group_tests_name("chaos_kill", tests, setup_group, chaos_teardown_group);
}
