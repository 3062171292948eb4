/*
 * docker_proxy.h - end-to-end test support: a Docker engine that can go
 * away, without touching the real one.
 *
 * A thread of the test listens on a unix socket of its own and forwards
 * every connection to /var/run/docker.sock. berthd is pointed at it with
 * --docker-host unix://<path>. "Down" closes the listening socket (the path
 * disappears, new connections are refused at once) and every forwarded
 * connection (requests in flight see a reset); "up" listens again.
 *
 * A hook sees the bytes each connection sends to Docker before they are
 * forwarded, on the proxy's thread: a test can act at an exact moment of
 * berthd's conversation with Docker (bind a port just before a container's
 * start reaches the engine; make Docker go away just before, or just
 * after, a request reaches it). The proxy stays down until docker_proxy_up.
 *
 * Threads: the proxy thread owns every descriptor but the command pipes;
 * the calls below come from any one test thread.
 */
#ifndef BERTH_TEST_DOCKER_PROXY_H
#define BERTH_TEST_DOCKER_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define DOCKER_PROXY_MAX_CONNS 64

/* What the proxy does with the bytes a hook has seen. */
enum docker_proxy_verdict {
	DOCKER_PROXY_FORWARD,           /* pass them on */
	DOCKER_PROXY_DOWN_BEFORE,       /* go down at once: Docker never sees them */
	DOCKER_PROXY_DOWN_AFTER,        /* pass them on, go down when Docker answers: Docker
	                                   did it, the answer is lost */
	DOCKER_PROXY_HOLD_ANSWER,       /* pass them on, keep Docker's answer from the client
	                                   (answers_held counts it): Docker did it, the client
	                                   waits, its connection open, until it gives up */
};

/* Called on the proxy thread with bytes a client sends to Docker. */
typedef enum docker_proxy_verdict (*docker_proxy_hook)(void *arg, const char *data, size_t len);

struct docker_proxy {
	char dir[64];
	char path[108];                        /* the socket berthd connects to */
	int listen_fd;                         /* -1 while down */
	int conns[DOCKER_PROXY_MAX_CONNS][2];  /* client side, Docker side; -1 when free */
	bool down_on_answer[DOCKER_PROXY_MAX_CONNS]; /* DOCKER_PROXY_DOWN_AFTER pending */
	bool hold_answer[DOCKER_PROXY_MAX_CONNS];    /* DOCKER_PROXY_HOLD_ANSWER pending */
	atomic_uint answers_held;              /* answers kept from clients so far */
	int command[2];                        /* test -> proxy */
	int answer[2];                         /* proxy -> test */
	pthread_t thread;
	bool running;
	atomic_uint accepted;                  /* connections forwarded so far */
	pthread_mutex_t hook_lock;             /* guards hook and hook_arg */
	docker_proxy_hook hook;
	void *hook_arg;
};

/* Creates a temporary directory with the socket and starts the thread. 0 or -1. */
int docker_proxy_start(struct docker_proxy *p);

/* Docker "goes away" / "comes back"; true once the proxy thread did it. */
bool docker_proxy_down(struct docker_proxy *p);
bool docker_proxy_up(struct docker_proxy *p);

/* Sets (or, with NULL, clears) the hook; takes effect for the next bytes. */
void docker_proxy_set_hook(struct docker_proxy *p, docker_proxy_hook hook, void *arg);

/* Stops the thread, closes everything, removes the directory. Safe to repeat. */
void docker_proxy_stop(struct docker_proxy *p);

#endif
