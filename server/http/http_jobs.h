/*
 * http_jobs.h - the HTTP listeners' worker threads.
 *
 * libmicrohttpd's thread only reads and writes sockets; a request that is
 * complete becomes a job here, run by one of a few threads that each hold
 * the state of an RPC worker (rpc_server_worker_open: a registry
 * connection). So a slow call never stalls other connections, and a slow
 * client never holds a worker: a job exists only once its request is
 * whole.
 *
 * Threads: push from any thread (libmicrohttpd's); run on the pool's
 * threads; start and stop on the main thread. One mutex guards the queue.
 */
#ifndef BERTH_HTTP_JOBS_H
#define BERTH_HTTP_JOBS_H

#include "error.h"

struct rpc_server;
struct http_jobs;

struct http_job {
	/* Runs the job on a pool thread; `worker` is that thread's RPC worker state. */
	void (*run)(struct http_job *job, void *worker);
	/* The pool stops before it ran the job: answer without running it. */
	void (*cancel)(struct http_job *job);
	struct http_job *next; /* the pool's */
};

/*
 * Starts n threads, each with rpc_server_worker_open(rpc) (rpc NULL: no
 * worker state, for tests). Returns 0, or -1 with the reason in err and
 * nothing running.
 */
int http_jobs_start(struct http_jobs **out, struct rpc_server *rpc, int n, struct error *err);

/* Queues job (not owned: it must live until run or cancel is called). */
void http_jobs_push(struct http_jobs *p, struct http_job *job);

/*
 * Cancels the jobs still queued, waits for the running ones, joins the
 * threads, closes their worker states (before rpc_server_stop) and frees
 * the pool. NULL-safe.
 */
void http_jobs_stop(struct http_jobs *p);

#endif
