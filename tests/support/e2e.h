/*
 * e2e.h - the one fixture of the end-to-end tests: a berthd with a client,
 * the demo template, launches, waiting for a condition with a deadline,
 * and removing everything a test made, by label.
 *
 * Every e2e file starts its berthd with e2e_daemon_start, puts the demo
 * template with e2e_put_demo_template (or e2e_demo_template + changes +
 * e2e_put_template), waits with E2E_WAIT_UNTIL / e2e_wait_until instead of
 * sleeping, and ends with e2e_daemon_destroy, which removes every container
 * labelled with the daemon's data directory. Nothing here calls cmocka:
 * failures are returned, the test decides how to fail.
 *
 * Threads: the test's main thread, unless a function says otherwise
 * (e2e_wait_until and the RPC helpers are safe from any thread with its own
 * client).
 */
#ifndef BERTH_TEST_E2E_H
#define BERTH_TEST_E2E_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "berth.h"
#include "berthd_proc.h"
#include "clock.h"

#define E2E_DEMO_IMAGE "berth-demo:e2e"
#define E2E_DEMO_PORT 8000
#define E2E_CALL_TIMEOUT_MS 120000
#define E2E_POLL_MS 20 /* how often a wait looks again */

/* --- waiting ------------------------------------------------------------------ */

/*
 * Calls cond(arg) every E2E_POLL_MS until it returns true or timeout_ms
 * passed; true when it did (checked once more at the deadline).
 */
bool e2e_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms);

/*
 * The same for an expression, evaluated in the caller's scope:
 *     assert_true(E2E_WAIT_UNTIL(count_rows() == 3, 5000));
 */
#define E2E_WAIT_UNTIL(expr, timeout_ms)                                     \
	({                                                                   \
		int64_t e2e_until_ = clock_monotonic_ms() + (timeout_ms);    \
		bool e2e_ok_;                                                \
		while (!(e2e_ok_ = (expr)) && clock_monotonic_ms() < e2e_until_) \
			clock_sleep_ms(E2E_POLL_MS);                         \
		e2e_ok_;                                                     \
	})

/* --- berthd -------------------------------------------------------------------- */

/* One berthd under test and a client connected to it. */
struct e2e_daemon {
	struct berthd_proc proc;
	berth_client *client;
	char label[PATH_MAX + 32]; /* "berth.data_dir=<absolute data dir>", as on its containers */
};

/*
 * berthd_proc_start(extra_args), then a client with E2E_CALL_TIMEOUT_MS.
 * 0, or -1 with the reason on stderr (berthd is then gone).
 */
int e2e_daemon_start(struct e2e_daemon *d, const char *const *extra_args);

/* (Re)opens d->client on d->proc.url with call_timeout_ms (0: the default). */
int e2e_daemon_connect(struct e2e_daemon *d, int call_timeout_ms);

/*
 * `berthd token create` on d's data directory (berthd may be running): the
 * token ("berth_...") into token. 0, or -1 with the reason on stderr.
 */
int e2e_create_token(const struct e2e_daemon *d, const char *name, const char *role,
    char *token, size_t len);

/* berthd again on the same directory (after it stopped or was killed), and a new client. */
int e2e_daemon_restart(struct e2e_daemon *d, const char *const *extra_args);

/*
 * Ends a daemon whatever state it is in: removes its services (when it
 * answers and `remove_services`), kills it, removes every container carrying
 * d->label, and its directory. Safe on a zeroed or already destroyed one.
 */
void e2e_daemon_destroy(struct e2e_daemon *d, bool remove_services);

/* --- Docker --------------------------------------------------------------------- */

/* The suite's Docker client, opened on first use; NULL (and a message) when none. */
struct docker *e2e_docker(void);

/* Forcefully removes every container carrying `label` ("key=value"); how many. */
unsigned e2e_remove_labelled(const char *label);

/*
 * On a Podman run (tests/run.sh's podman: prefix sets BERTH_TEST_ENGINE),
 * prints "# PODMAN GAP: why" and returns true: the caller leaves out the
 * check that does not hold there. Every gap is listed in the README.
 */
bool e2e_podman_gap(const char *why);

/* --- the demo service ------------------------------------------------------------ */

/* The absolute path of $BUILD/demo; NULL (and a message) when it is missing. */
const char *e2e_demo_context(void);

/*
 * Fills *t (which the caller has BERTH__V1__TEMPLATE__INIT'ed) with the
 * demo template `name`: E2E_DEMO_IMAGE built from e2e_demo_context(), port
 * 8000 published from [first, last], /data mounted, DEMO_DIR=/data,
 * stop timeout 2 s, restart policy "no" (berth leaves a dead container dead).
 * Strings point to static or caller storage: nothing to free.
 */
void e2e_demo_template(Berth__V1__Template *t, const char *name, uint16_t first, uint16_t last);

/* PutTemplate; 0 or the code (st filled; may be NULL). */
int e2e_put_template(berth_client *c, const Berth__V1__Template *t, berth_status *st);

/* e2e_demo_template + e2e_put_template; 0, or -1 with the reason on stderr. */
int e2e_put_demo_template(berth_client *c, const char *name, uint16_t first, uint16_t last);

/*
 * LaunchService of `template_name` (instance "" = auto-named; port 0 =
 * berth's choice). The reply (caller frees with berth_reply_free(&r->base)),
 * or NULL with *st telling why.
 */
Berth__V1__LaunchServiceResponse *e2e_launch(berth_client *c, const char *template_name,
    const char *instance, uint32_t port, berth_status *st);

/* RemoveService (purge, keep_container as given); 0 or the code. */
int e2e_remove_service(berth_client *c, const char *service_id, bool purge, bool keep_container);

/* ListServices; the reply (caller frees) or NULL. */
Berth__V1__ListServicesResponse *e2e_list_services(berth_client *c, berth_status *st);

/* The service's status as ListServices tells it, into out; "" when absent. 0 or the code. */
int e2e_service_status(berth_client *c, const char *service_id, char *out, size_t len);

/* Removes (with purge) every service berthd lists; best effort. NULL-safe. */
void e2e_remove_all_services(berth_client *c);

/* --- the host ------------------------------------------------------------------ */

/* A TCP listener on `port` of every address (SO_REUSEADDR), or -1. */
int e2e_listen_on(uint16_t port);

/* A port of 127.0.0.1 that was free a moment ago (the kernel's choice), or 0. */
uint16_t e2e_free_port(void);

/* True when berthd's log contains `needle` within timeout_ms. */
bool e2e_wait_log(const struct berthd_proc *p, const char *needle, int timeout_ms);

#endif
