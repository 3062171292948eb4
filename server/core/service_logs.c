/*
 * service_logs.c - GetServiceLogs over the backend's log entries: the
 * mode (tail, since, cursor), the cursor, the bound of one answer and the
 * follow long poll. See service_logs.h for the cursor's rules.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "timestamp.h"
#include "utf8.h"
#include "validate.h"
#include "core/berthd.h"
#include "core/lifecycle_internal.h"
#include "core/service_logs.h"
#include "store/registry.h"

#define CURSOR_MAX_COUNT 100000000u

/* One entry kept for the answer; its text lives in the reader's text buffer. */
struct kept {
	struct timestamp time;
	size_t off;
	size_t len;
};

/* What one read of the log collects (the backend's thread is the call's). */
struct reader {
	bool forward;             /* false: tail mode, the newest that fit are kept */
	bool timestamps;          /* prefix each line with Docker's stamp */
	uint32_t keep_last;       /* tail mode, counted here (Docker tails first): N */
	struct timestamp skip_at; /* forward after a cursor: skip `skip` entries stamped so */
	uint32_t skip;

	char *text; /* malloc'ed; the kept entries' lines, in order */
	size_t text_len, text_cap;
	struct kept *kept;
	size_t n_kept, kept_cap, first; /* kept[first..n_kept) are live */
	size_t live_bytes;

	bool any;                    /* Docker sent at least one entry */
	struct timestamp first_time; /* the first entry Docker sent */
	struct timestamp last_time;  /* the last entry Docker sent */
	uint32_t at_last;            /* how many entries Docker sent stamped last_time */
	bool truncated;              /* forward: stopped at the bound */
};

static int
grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap != 0 ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if ((q = realloc(*p, c * size)) == NULL)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

/* Tail mode: drops the oldest kept entries until the rest fit, compacting the text. */
static void
drop_oldest(struct reader *r)
{
	size_t base;

	while (r->live_bytes > SERVICE_LOGS_ANSWER_MAX && r->first < r->n_kept)
		r->live_bytes -= r->kept[r->first++].len;
	if (r->first == r->n_kept) {
		r->first = r->n_kept = r->text_len = 0;
		return;
	}
	base = r->kept[r->first].off;
	memmove(r->text, r->text + base, r->text_len - base);
	r->text_len -= base;
	memmove(r->kept, r->kept + r->first, (r->n_kept - r->first) * sizeof(*r->kept));
	r->n_kept -= r->first;
	r->first = 0;
	for (size_t i = 0; i < r->n_kept; i++)
		r->kept[i].off -= base;
}

/* One entry from the backend: counted for the cursor, kept for the answer. */
static int
take_entry(void *arg, const struct docker_log_entry *e)
{
	struct reader *r = arg;
	size_t len = e->len + (r->timestamps && e->stamp_len > 0 ? e->stamp_len + 1 : 0);
	struct kept *k;

	if (r->skip > 0 && timestamp_compare(&e->time, &r->skip_at) == 0) {
		r->skip--;
		goto counted; /* seen by the caller already */
	}
	r->skip = 0; /* past the cursor's instant: nothing more to skip */
	if (r->forward && r->live_bytes > 0 && r->live_bytes + len > SERVICE_LOGS_ANSWER_MAX) {
		r->truncated = true;
		return 1; /* enough for one answer; the cursor goes on from here */
	}
	if (grow((void **)&r->text, &r->text_cap, r->text_len + len + 1, 1) != 0 ||
	    grow((void **)&r->kept, &r->kept_cap, r->n_kept + 1, sizeof(*r->kept)) != 0)
		return -1;
	k = &r->kept[r->n_kept++];
	k->time = e->time;
	k->off = r->text_len;
	k->len = len;
	if (r->timestamps && e->stamp_len > 0) {
		memcpy(r->text + r->text_len, e->stamp, e->stamp_len);
		r->text[r->text_len + e->stamp_len] = ' ';
		r->text_len += e->stamp_len + 1;
	}
	memcpy(r->text + r->text_len, e->text, e->len);
	r->text_len += e->len;
	r->text[r->text_len] = '\0';
	r->live_bytes += len;
	if (r->keep_last > 0)
		while (r->n_kept - r->first > r->keep_last)
			r->live_bytes -= r->kept[r->first++].len;
	if (!r->forward && (r->live_bytes > 2 * SERVICE_LOGS_ANSWER_MAX || r->first >= 4096))
		drop_oldest(r);
counted:
	if (!r->any)
		r->first_time = e->time;
	if (r->any && timestamp_compare(&e->time, &r->last_time) == 0) {
		r->at_last++;
	} else {
		r->last_time = e->time;
		r->at_last = 1;
	}
	r->any = true;
	return 0;
}

static void
reader_free(struct reader *r)
{
	free(r->text);
	free(r->kept);
}

int
service_logs_cursor_parse(const char *text, struct timestamp *t, uint32_t *count)
{
	unsigned long long sec, nsec, n;
	int used = 0;

	if (text == NULL || strncmp(text, "c1.", 3) != 0 ||
	    strspn(text + 3, "0123456789.") != strlen(text + 3))
		return -1;
	if (sscanf(text, "c1.%20llu.%9llu.%10llu%n", &sec, &nsec, &n, &used) != 3 ||
	    (size_t)used != strlen(text) || sec > 253402300799ULL || nsec > 999999999ULL ||
	    n > CURSOR_MAX_COUNT)
		return -1;
	t->sec = (int64_t)sec;
	t->nsec = (int32_t)nsec;
	*count = (uint32_t)n;
	return 0;
}

static char *
cursor_text(struct call *call, const struct timestamp *t, uint32_t count)
{
	return arena_printf(&call->arena, "c1.%" PRId64 ".%09" PRId32 ".%" PRIu32, t->sec, t->nsec,
	    count);
}

/* The request's checks; fills the query and the reader's mode. */
static int
check_request(struct call *call, const Berth__V1__GetServiceLogsRequest *in,
    struct docker_logs_query *q, struct reader *r, bool *has_cursor)
{
	struct error verr;
	struct timestamp since;
	uint32_t count = 0;

	if (validate_service_id("service_id", in->service_id, &verr) != 0)
		return call_fail_error(call, &verr);
	if (in->tail > SERVICE_LOGS_MAX_TAIL)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "tail",
		    "OUT_OF_RANGE",
		    "tail must be at most %d lines", SERVICE_LOGS_MAX_TAIL);
	switch (in->stream) {
	case BERTH__V1__LOG_STREAM__LOG_STREAM_BOTH:
		break;
	case BERTH__V1__LOG_STREAM__LOG_STREAM_STDOUT:
		q->no_stderr = true;
		break;
	case BERTH__V1__LOG_STREAM__LOG_STREAM_STDERR:
		q->no_stdout = true;
		break;
	default:
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "stream",
		    "OUT_OF_RANGE", "stream must be LOG_STREAM_BOTH, LOG_STREAM_STDOUT or "
				    "LOG_STREAM_STDERR");
	}
	if (in->since[0] != '\0') {
		if (!timestamp_parse(in->since, &since))
			return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "since",
			    "INVALID_TIME",
			    "since must be RFC 3339 (2026-12-05T10:00:00Z) or Unix seconds "
			    "(1764928800.5)");
		q->has_since = true;
		q->since = since;
	}
	*has_cursor = in->cursor[0] != '\0';
	if (*has_cursor) {
		struct timestamp at;
		if (service_logs_cursor_parse(in->cursor, &at, &count) != 0)
			return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "cursor",
			    "INVALID_CURSOR", "cursor is not one GetServiceLogs returned");
		/* The later of since and the cursor's instant. */
		if (!q->has_since || timestamp_compare(&at, &q->since) >= 0) {
			q->has_since = at.sec != 0 || at.nsec != 0;
			q->since = at;
			r->skip_at = at;
			r->skip = count;
		}
		r->forward = true;
	} else if (q->has_since && in->tail == 0) {
		r->forward = true; /* everything since, oldest first, an answer at a time */
	} else if (q->has_since || q->no_stdout || q->no_stderr) {
		/*
		 * Docker takes its tail of the whole log first and filters
		 * after: the last N lines of one stream, or since a time, are
		 * counted here instead, over the whole read.
		 */
		r->keep_last = in->tail != 0 ? in->tail : SERVICE_LOGS_TAIL;
	} else {
		q->tail = in->tail != 0 ? in->tail : SERVICE_LOGS_TAIL;
	}
	r->timestamps = in->timestamps;
	return 0;
}

/*
 * Tail mode's last line may share its stamp with lines before the tail's
 * window: count them all (since = until = that instant), so the cursor's
 * count is exact.
 */
static int
count_at_instant(struct call *call, struct backend *b, const char *ref,
    const struct docker_logs_query *base, const struct timestamp *at, uint32_t *count,
    struct error *err)
{
	struct docker_logs_query q = *base;
	struct reader r = { .forward = true };
	int code;

	q.tail = 0;
	q.has_since = q.has_until = true;
	q.since = q.until = *at;
	code = b->ops->log_entries(b, ref, &q, take_entry, &r, call_remaining_ms(call), err);
	if (code == 0 && r.any && timestamp_compare(&r.last_time, at) == 0 && r.at_last > *count)
		*count = r.at_last;
	reader_free(&r);
	return code;
}

/* The kept lines as the answer's text: valid UTF-8, in the arena. */
static char *
answer_text(struct call *call, const struct reader *r)
{
	size_t start = r->n_kept > r->first ? r->kept[r->first].off : 0;
	size_t len = r->n_kept > r->first ? r->text_len - start : 0;
	char *out = arena_alloc(&call->arena, 3 * len + 1);

	if (out == NULL)
		return NULL;
	utf8_replace_invalid(out, len > 0 ? r->text + start : "", len);
	return out;
}

int
service_logs(struct call *call, const Berth__V1__GetServiceLogsRequest *in,
    Berth__V1__GetServiceLogsResponse *out)
{
	struct backend *b = &call_berthd(call)->backend;
	struct docker_logs_query q = { 0 };
	struct reader r = { 0 };
	struct docker_container live;
	struct error err = { 0 };
	Berth__V1__Service *s;
	bool has_cursor, running;
	const char *ref;
	uint32_t wait_ms;
	int code;

	if ((code = check_request(call, in, &q, &r, &has_cursor)) != 0)
		return code;
	code = registry_service_get(call_registry(call), &call->arena, in->service_id, &s);
	if (code != 0)
		return lifecycle_registry_code(call, code);
	ref = lifecycle_container_ref(s);
	/*
	 * Whether it runs, before reading: a container that had stopped
	 * before the read has written its last line, so `ended` never cuts a
	 * log short.
	 */
	code = b->ops->inspect(b, ref, &live, call_remaining_ms(call), &err);
	if (code == BERTH__V1__CODE__NOT_FOUND)
		return call_fail(call, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "the container of service '%s' no longer exists (restart recreates it)",
		    in->service_id);
	if (code != 0)
		return lifecycle_fail_backend(call, &err, "cannot read the logs");
	running = strcmp(live.state, "running") == 0 || strcmp(live.state, "restarting") == 0;
	code = b->ops->log_entries(b, ref, &q, take_entry, &r, call_remaining_ms(call), &err);
	if (code == 0 && q.tail > 0 && r.any && timestamp_compare(&r.first_time, &r.last_time) == 0)
		code = count_at_instant(call, b, ref, &q, &r.last_time, &r.at_last, &err);
	if (code != 0) {
		reader_free(&r);
		if (code == BERTH__V1__CODE__NOT_FOUND)
			return call_fail(call, BERTH__V1__CODE__FAILED_PRECONDITION,
			    "the container of service '%s' no longer exists", in->service_id);
		return lifecycle_fail_backend(call, &err, "cannot read the logs");
	}
	if (!r.forward && r.live_bytes > SERVICE_LOGS_ANSWER_MAX)
		drop_oldest(&r);

	/*
	 * Only a read after a cursor or a time waits: a tail read again later
	 * would lose what came in between beyond its N lines.
	 */
	if (r.n_kept == r.first && in->follow && running && r.forward) {
		wait_ms = in->wait_ms < SERVICE_LOGS_MAX_WAIT_MS ? in->wait_ms
								 : SERVICE_LOGS_MAX_WAIT_MS;
		int64_t until = clock_monotonic_ms() + wait_ms;

		if (wait_ms > 0 &&
		    call_park(call, until, SERVICE_LOGS_POLL_MS, CALL_WAKE_NONE)) {
			reader_free(&r);
			return 0; /* the transport runs it again when it is time */
		}
	}
	out->logs = answer_text(call, &r);
	if (r.any)
		out->cursor = cursor_text(call, &r.last_time, r.at_last);
	else if (has_cursor)
		out->cursor = arena_strdup(&call->arena, in->cursor);
	else
		/*
		 * Nothing at all: every later line is new. From `since` when
		 * there was one, else from the start of the log.
		 */
		out->cursor = cursor_text(call,
		    q.has_since ? &q.since : &(struct timestamp){ 0, 0 }, 0);
	out->ended = !running && !r.truncated;
	reader_free(&r);
	if (out->logs == NULL || out->cursor == NULL)
		return call_fail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	return 0;
}
