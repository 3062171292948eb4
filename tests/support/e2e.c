/*
 * e2e.c - the end-to-end fixture (see e2e.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e.h"
#include "engine/docker.h"

static struct docker *docker_client;
static char demo_context[PATH_MAX];

bool
e2e_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
	int64_t until = clock_monotonic_ms() + timeout_ms;

	for (;;) {
		if (cond(arg))
			return true;
		if (clock_monotonic_ms() >= until)
			return false;
		clock_sleep_ms(E2E_POLL_MS);
	}
}

/* --- berthd -------------------------------------------------------------------- */

int
e2e_daemon_connect(struct e2e_daemon *d, int call_timeout_ms)
{
	berth_options opts = { NULL, call_timeout_ms > 0 ? call_timeout_ms : E2E_CALL_TIMEOUT_MS };
	berth_status st;

	berth_close(d->client);
	d->client = NULL;
	if (berth_open(&d->client, d->proc.url, &opts, &st) != 0) {
		fprintf(stderr, "berth_open %s: %s\n", d->proc.url, st.message);
		return -1;
	}
	return 0;
}

int
e2e_daemon_start(struct e2e_daemon *d, const char *const *extra_args)
{
	char abs[PATH_MAX];

	memset(d, 0, sizeof(*d));
	if (berthd_proc_start(&d->proc, extra_args) != 0)
		return -1;
	if (realpath(d->proc.data_dir, abs) == NULL) {
		fprintf(stderr, "berthd made no data directory %s\n", d->proc.data_dir);
		return -1;
	}
	snprintf(d->label, sizeof(d->label), "%s=%s", DOCKER_LABEL_DATA_DIR, abs);
	return e2e_daemon_connect(d, 0);
}

int
e2e_create_token(const struct e2e_daemon *d, const char *name, const char *role, char *token,
    size_t len)
{
	const char *build = getenv("BUILD") != NULL ? getenv("BUILD") : "build";
	char cmd[1024];
	FILE *p;
	bool ok;

	snprintf(cmd, sizeof(cmd),
	    "%s/berthd token create --name %s --role %s --data-dir '%s' 2>/dev/null", build, name,
	    role, d->proc.data_dir);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	ok = fgets(token, (int)len, p) != NULL;
	ok = pclose(p) == 0 && ok;
	token[strcspn(token, "\n")] = '\0';
	if (!ok || strncmp(token, "berth_", 6) != 0) {
		fprintf(stderr, "berthd token create %s failed\n", name);
		return -1;
	}
	return 0;
}

int
e2e_daemon_restart(struct e2e_daemon *d, const char *const *extra_args)
{
	if (berthd_proc_restart(&d->proc, extra_args) != 0)
		return -1;
	return e2e_daemon_connect(d, 0);
}

void
e2e_daemon_destroy(struct e2e_daemon *d, bool remove_services)
{
	if (remove_services && d->proc.pid > 0)
		e2e_remove_all_services(d->client);
	berth_close(d->client);
	d->client = NULL;
	berthd_proc_kill(&d->proc);
	if (d->label[0] != '\0')
		e2e_remove_labelled(d->label);
	berthd_proc_cleanup(&d->proc);
	memset(d, 0, sizeof(*d));
}

/* --- Docker --------------------------------------------------------------------- */

struct docker *
e2e_docker(void)
{
	struct error err;

	if (docker_client == NULL && docker_open(&docker_client, NULL, &err) != 0) {
		fprintf(stderr, "no Docker client: %s\n", err.message);
		docker_client = NULL;
	}
	return docker_client;
}

unsigned
e2e_remove_labelled(const char *label)
{
	struct docker_container *list = NULL;
	struct error err = { 0 };
	unsigned removed = 0;
	size_t n = 0;

	if (e2e_docker() == NULL ||
	    docker_container_list(docker_client, label, &list, &n, 30000, &err) != 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (docker_container_remove(docker_client, list[i].id, true, 30000, &err) == 0)
			removed++;
	free(list);
	return removed;
}

/* --- the demo service ------------------------------------------------------------ */

const char *
e2e_demo_context(void)
{
	const char *b = getenv("BUILD");
	char build[PATH_MAX];

	if (demo_context[0] != '\0')
		return demo_context;
	snprintf(build, sizeof(build), "%s/demo", b != NULL && b[0] != '\0' ? b : "build");
	if (realpath(build, demo_context) == NULL) {
		demo_context[0] = '\0';
		fprintf(stderr, "no demo build context at %s: run make demo\n", build);
		return NULL;
	}
	return demo_context;
}

void
e2e_demo_template(Berth__V1__Template *t, const char *name, uint16_t first, uint16_t last)
{
	static char *env[] = { "DEMO_DIR=/data" };
	const char *context = e2e_demo_context();

	t->name = (char *)name;
	t->description = "berth's demo HTTP service";
	t->image = E2E_DEMO_IMAGE;
	t->build_context = (char *)(context != NULL ? context : "");
	t->container_port = E2E_DEMO_PORT;
	t->port_range_start = first;
	t->port_range_end = last;
	t->mount_path = "/data";
	t->env = env;
	t->n_env = 1;
	t->stop_timeout_s = 2;
	/* Tests of what berth does when a container dies ask for a policy themselves. */
	t->restart = "no";
}

int
e2e_put_template(berth_client *c, const Berth__V1__Template *t, berth_status *st)
{
	Berth__V1__PutTemplateRequest put = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status local;
	int rc;

	put.template_ = (Berth__V1__Template *)t;
	rc = berth_call(c, "PutTemplate", &put.base, &reply, st != NULL ? st : &local);
	berth_reply_free(reply);
	return rc;
}

int
e2e_put_demo_template(berth_client *c, const char *name, uint16_t first, uint16_t last)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	berth_status st;

	if (e2e_demo_context() == NULL)
		return -1;
	e2e_demo_template(&t, name, first, last);
	if (e2e_put_template(c, &t, &st) != 0) {
		fprintf(stderr, "PutTemplate %s: %s: %s\n", name, berth_code_name(st.code), st.message);
		return -1;
	}
	return 0;
}

Berth__V1__LaunchServiceResponse *
e2e_launch(berth_client *c, const char *template_name, const char *instance, uint32_t port,
    berth_status *st)
{
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;

	req.template_ = (char *)template_name;
	req.instance = (char *)(instance != NULL ? instance : "");
	req.port = port;
	if (berth_call(c, "LaunchService", &req.base, &reply, st) != 0) {
		berth_reply_free(reply);
		return NULL;
	}
	return (Berth__V1__LaunchServiceResponse *)reply;
}

int
e2e_remove_service(berth_client *c, const char *service_id, bool purge, bool keep_container)
{
	Berth__V1__RemoveServiceRequest req = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;
	int rc;

	req.service_id = (char *)service_id;
	req.purge = purge;
	req.keep_container = keep_container;
	rc = berth_call(c, "RemoveService", &req.base, &reply, &st);
	berth_reply_free(reply);
	return rc;
}

Berth__V1__ListServicesResponse *
e2e_list_services(berth_client *c, berth_status *st)
{
	Berth__V1__ListServicesRequest req = BERTH__V1__LIST_SERVICES_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status local;

	if (berth_call(c, "ListServices", &req.base, &reply, st != NULL ? st : &local) != 0) {
		berth_reply_free(reply);
		return NULL;
	}
	return (Berth__V1__ListServicesResponse *)reply;
}

int
e2e_service_status(berth_client *c, const char *service_id, char *out, size_t len)
{
	berth_status st;
	Berth__V1__ListServicesResponse *rep = e2e_list_services(c, &st);

	snprintf(out, len, "%s", "");
	if (rep == NULL)
		return st.code != 0 ? st.code : -1;
	for (size_t i = 0; i < rep->n_services; i++)
		if (strcmp(rep->services[i]->service_id, service_id) == 0)
			snprintf(out, len, "%s", rep->services[i]->status);
	berth_reply_free(&rep->base);
	return 0;
}

void
e2e_remove_all_services(berth_client *c)
{
	Berth__V1__ListServicesResponse *rep;

	if (c == NULL || (rep = e2e_list_services(c, NULL)) == NULL)
		return;
	for (size_t i = 0; i < rep->n_services; i++)
		e2e_remove_service(c, rep->services[i]->service_id, true, false);
	berth_reply_free(&rep->base);
}

/* --- the host ------------------------------------------------------------------ */

int
e2e_listen_on(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	/* Like any real server: a port left in TIME_WAIT by an earlier test is fine. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

uint16_t
e2e_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	if (fd < 0)
		return 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

bool
e2e_wait_log(const struct berthd_proc *p, const char *needle, int timeout_ms)
{
	return E2E_WAIT_UNTIL(berthd_proc_log_contains(p, needle), timeout_ms);
}

bool
e2e_podman_gap(const char *why)
{
	const char *engine = getenv("BERTH_TEST_ENGINE");

	if (engine == NULL || strcmp(engine, "podman") != 0)
		return false;
	printf("# PODMAN GAP: %s\n", why);
	return true;
}
