/*
 * berthd_proc.c - start, stop and talk to a real berthd in tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "berth.h"
#include "berthd_proc.h"
#include "clock.h"

#define MAX_ARGS 64
#define START_WAIT_MS 10000
#define START_POLL_MS 10

static const char *
build_dir(void)
{
	const char *b = getenv("BUILD");
	return b != NULL && b[0] != '\0' ? b : "build";
}

static bool
health_answers(const char *url)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_options opts = { NULL, 500 };
	berth_client *c;
	int rc;

	if (berth_open(&c, url, &opts, NULL) != 0)
		return false;
	rc = berth_call(c, "Health", &req.base, &reply, NULL);
	berth_reply_free(reply);
	berth_close(c);
	return rc == 0;
}

static void
print_log(const struct berthd_proc *p)
{
	char line[1024];
	FILE *f = fopen(p->log_path, "r");

	if (f == NULL)
		return;
	fprintf(stderr, "--- berthd log %s ---\n", p->log_path);
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fclose(f);
}

/*
 * Starts berthd, under `wrapper` (a command prefix such as valgrind and its
 * options, NULL for none), and waits up to wait_ms for Health.
 */
static int
spawn(struct berthd_proc *p, const char *const *wrapper, int wait_ms,
    const char *const *extra_args)
{
	const char *argv[MAX_ARGS];
	char berthd[512], build_root[PATH_MAX];
	int n = 0, fd;

	snprintf(berthd, sizeof(berthd), "%s/berthd", build_dir());
	for (int i = 0; wrapper != NULL && wrapper[i] != NULL && n < MAX_ARGS / 2; i++)
		argv[n++] = wrapper[i];
	argv[n++] = berthd;
	argv[n++] = "--listen";
	argv[n++] = p->url;
	argv[n++] = "--data-dir";
	argv[n++] = p->data_dir;
	argv[n++] = "--publish-address";
	argv[n++] = "127.0.0.1";
	/* Tests build images from $BUILD/demo: let that be under the build root. */
	if (realpath(build_dir(), build_root) != NULL) {
		argv[n++] = "--build-root";
		argv[n++] = build_root;
	}
	for (int i = 0; extra_args != NULL && extra_args[i] != NULL && n < MAX_ARGS - 1; i++)
		argv[n++] = extra_args[i];
	argv[n] = NULL;

	p->spawned_us = clock_monotonic_us();
	p->ready_us = 0;
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int64_t until = clock_monotonic_ms() + wait_ms; clock_monotonic_ms() < until;) {
		int status;
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			print_log(p);
			return -1;
		}
		if (health_answers(p->url)) {
			p->ready_us = clock_monotonic_us();
			return 0;
		}
		clock_sleep_ms(START_POLL_MS); /* a poll's pace, until the deadline */
	}
	print_log(p);
	berthd_proc_kill(p);
	return -1;
}

int
berthd_proc_start_wrapped(struct berthd_proc *p, const char *const *wrapper, int wait_ms,
    const char *const *extra_args)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/berth-test-XXXXXX");
	if (mkdtemp(p->dir) == NULL)
		return -1;
	snprintf(p->data_dir, sizeof(p->data_dir), "%s/data", p->dir);
	snprintf(p->url, sizeof(p->url), "ipc://%s/berthd.sock", p->dir);
	snprintf(p->log_path, sizeof(p->log_path), "%s/berthd.log", p->dir);
	return spawn(p, wrapper, wait_ms, extra_args);
}

int
berthd_proc_start_in(struct berthd_proc *p, const char *dir, int wait_ms,
    const char *const *extra_args)
{
	memset(p, 0, sizeof(*p));
	if ((size_t)snprintf(p->dir, sizeof(p->dir), "%s", dir) >= sizeof(p->dir))
		return -1;
	p->given_dir = true;
	snprintf(p->data_dir, sizeof(p->data_dir), "%s/data", p->dir);
	snprintf(p->url, sizeof(p->url), "ipc://%s/berthd.sock", p->dir);
	snprintf(p->log_path, sizeof(p->log_path), "%s/berthd.log", p->dir);
	return spawn(p, NULL, wait_ms, extra_args);
}

int
berthd_proc_start(struct berthd_proc *p, const char *const *extra_args)
{
	return berthd_proc_start_wrapped(p, NULL, START_WAIT_MS, extra_args);
}

int
berthd_proc_restart(struct berthd_proc *p, const char *const *extra_args)
{
	return spawn(p, NULL, START_WAIT_MS, extra_args);
}

int
berthd_proc_stop(struct berthd_proc *p, int timeout_s)
{
	int status;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	for (int i = 0; i < timeout_s * 20; i++) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		clock_sleep_ms(50); /* a poll's pace, until timeout_s */
	}
	berthd_proc_kill(p);
	return -1;
}

void
berthd_proc_kill(struct berthd_proc *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
}

void
berthd_proc_cleanup(struct berthd_proc *p)
{
	char cmd[400];

	if (p->pid > 0 && berthd_proc_stop(p, 30) < 0)
		berthd_proc_kill(p);
	if (p->dir[0] == '\0' || p->given_dir)
		return;
	/* BERTH_TEST_KEEP_DIRS=1 keeps berthd's directory (its log) to look at afterwards. */
	if (getenv("BERTH_TEST_KEEP_DIRS") != NULL) {
		fprintf(stderr, "kept %s\n", p->dir);
		p->dir[0] = '\0';
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", p->dir);
	p->dir[0] = '\0';
}

bool
berthd_proc_log_contains(const struct berthd_proc *p, const char *needle)
{
	char line[2048];
	bool found = false;
	FILE *f = fopen(p->log_path, "r");

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* Reads both pipes to the end without deadlock. */
static void
drain(int out_fd, int err_fd, char **out, char **err)
{
	struct pollfd fds[2] = { { out_fd, POLLIN, 0 }, { err_fd, POLLIN, 0 } };
	char *bufs[2] = { NULL, NULL };
	size_t lens[2] = { 0, 0 }, caps[2] = { 0, 0 };
	int open_fds = 2;

	while (open_fds > 0) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			char chunk[4096];
			ssize_t n;

			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(fds[i].fd, chunk, sizeof(chunk));
			if (n <= 0) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
				continue;
			}
			if (lens[i] + (size_t)n + 1 > caps[i]) {
				caps[i] = (lens[i] + (size_t)n + 1) * 2;
				bufs[i] = realloc(bufs[i], caps[i]);
			}
			memcpy(bufs[i] + lens[i], chunk, (size_t)n);
			lens[i] += (size_t)n;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (bufs[i] == NULL)
			bufs[i] = calloc(1, 1);
		else
			bufs[i][lens[i]] = '\0';
	}
	if (out != NULL)
		*out = bufs[0];
	else
		free(bufs[0]);
	if (err != NULL)
		*err = bufs[1];
	else
		free(bufs[1]);
}

int
berth_cli_argv(const char *const *args, char **out, char **err)
{
	const char *argv[MAX_ARGS];
	char berth[512];
	int n = 0;

	snprintf(berth, sizeof(berth), "%s/berth", build_dir());
	argv[n++] = berth;
	for (int i = 0; args[i] != NULL && n < MAX_ARGS - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return run_program(argv, out, err);
}

int
run_program(const char *const *argv, char **out, char **err)
{
	int out_pipe[2], err_pipe[2], status;
	pid_t pid;

	if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(out_pipe[1], STDOUT_FILENO);
		dup2(err_pipe[1], STDERR_FILENO);
		close(out_pipe[0]);
		close(err_pipe[0]);
		close(out_pipe[1]);
		close(err_pipe[1]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out_pipe[1]);
	close(err_pipe[1]);
	drain(out_pipe[0], err_pipe[0], out, err);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
berth_cli(const struct berthd_proc *p, char **out, char **err, ...)
{
	const char *argv[MAX_ARGS];
	const char *arg;
	va_list ap;
	int n = 0;

	argv[n++] = "--url";
	argv[n++] = p->url;
	va_start(ap, err);
	while ((arg = va_arg(ap, const char *)) != NULL && n < MAX_ARGS - 1)
		argv[n++] = arg;
	va_end(ap);
	argv[n] = NULL;
	return berth_cli_argv(argv, out, err);
}
