/*
 * http_jobs.c - a queue and the threads that empty it (http_jobs.h).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "berth/v1/berth.pb-c.h"
#include "http/http_jobs.h"
#include "rpc/rpc_server.h"

struct http_jobs {
	struct rpc_server *rpc;
	pthread_mutex_t lock; /* guards head, tail, stopping */
	pthread_cond_t ready;
	struct http_job *head, *tail;
	bool stopping;
	int n_threads;
	pthread_t *threads;
	void **workers; /* one RPC worker state per thread */
};

struct thread_arg {
	struct http_jobs *pool;
	void *worker;
};

static void *
thread_main(void *arg)
{
	struct http_jobs *p = ((struct thread_arg *)arg)->pool;
	void *worker = ((struct thread_arg *)arg)->worker;

	free(arg);
	for (;;) {
		struct http_job *job;

		pthread_mutex_lock(&p->lock);
		while (p->head == NULL && !p->stopping)
			pthread_cond_wait(&p->ready, &p->lock);
		if (p->head == NULL) { /* stopping, and nothing left */
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		job = p->head;
		p->head = job->next;
		if (p->head == NULL)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		job->run(job, worker);
	}
}

int
http_jobs_start(struct http_jobs **out, struct rpc_server *rpc, int n, struct error *err)
{
	struct http_jobs *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (p == NULL || n < 1 || (p->threads = calloc((size_t)n, sizeof(*p->threads))) == NULL ||
	    (p->workers = calloc((size_t)n, sizeof(*p->workers))) == NULL) {
		if (p != NULL)
			free(p->threads);
		free(p);
		return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	p->rpc = rpc;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->ready, NULL);
	for (int i = 0; i < n; i++) {
		struct thread_arg *arg = malloc(sizeof(*arg));

		if (arg == NULL ||
		    (rpc != NULL && (p->workers[i] = rpc_server_worker_open(rpc)) == NULL)) {
			free(arg);
			error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot prepare HTTP worker %d", i);
			http_jobs_stop(p);
			return -1;
		}
		arg->pool = p;
		arg->worker = p->workers[i];
		if (pthread_create(&p->threads[i], NULL, thread_main, arg) != 0) {
			free(arg);
			if (rpc != NULL)
				rpc_server_worker_close(rpc, p->workers[i]);
			p->workers[i] = NULL;
			error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot start HTTP worker thread");
			http_jobs_stop(p);
			return -1;
		}
		p->n_threads++;
	}
	*out = p;
	return 0;
}

void
http_jobs_push(struct http_jobs *p, struct http_job *job)
{
	bool cancel;

	job->next = NULL;
	pthread_mutex_lock(&p->lock);
	cancel = p->stopping;
	if (!cancel) {
		if (p->tail != NULL)
			p->tail->next = job;
		else
			p->head = job;
		p->tail = job;
		pthread_cond_signal(&p->ready);
	}
	pthread_mutex_unlock(&p->lock);
	if (cancel)
		job->cancel(job);
}

void
http_jobs_stop(struct http_jobs *p)
{
	struct http_job *left;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	left = p->head;
	p->head = p->tail = NULL;
	pthread_cond_broadcast(&p->ready);
	pthread_mutex_unlock(&p->lock);
	while (left != NULL) {
		struct http_job *next = left->next;

		left->cancel(left);
		left = next;
	}
	for (int i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	for (int i = 0; i < p->n_threads; i++)
		if (p->workers[i] != NULL && p->rpc != NULL)
			rpc_server_worker_close(p->rpc, p->workers[i]);
	pthread_cond_destroy(&p->ready);
	pthread_mutex_destroy(&p->lock);
	free(p->workers);
	free(p->threads);
	free(p);
}
