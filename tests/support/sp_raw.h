/*
 * sp_raw.h - req0 spoken by hand over ipc:// or tcp://.
 *
 * A plain socket, the SP handshake (0 'S' 'P' 0, req0 = 0x30) and framing
 * (ipc: 1, then a 64-bit big-endian length; tcp: the length alone; then
 * the 4-byte request id and the body), without nng. Tests use it to send
 * what no nng client would (messages past the transport limit, half a
 * message), and for exchanges whose connection berthd may cut: nng
 * 1.5.2's client can hang for good in nng_close after such a cut, and one
 * stuck close blocks nng's reaper for the whole test process.
 *
 * URLs: ipc://PATH or tcp://127.0.0.1:PORT (an IPv4 address, no names).
 */
#ifndef BERTH_TEST_SP_RAW_H
#define BERTH_TEST_SP_RAW_H

#include <stdbool.h>
#include <stddef.h>

enum sp_raw_result {
	SP_RAW_ANSWERED, /* *answer holds the reply's body (malloc'ed; caller frees) */
	SP_RAW_CLOSED,   /* the server closed the connection instead of answering */
	SP_RAW_TIMEOUT,  /* neither an answer nor a close within timeout_ms */
	SP_RAW_ERROR,    /* could not connect or handshake */
};

/* One request on a fresh connection, and its answer. */
enum sp_raw_result sp_raw_exchange(const char *url, const void *body, size_t len,
    int timeout_ms, void **answer, size_t *answer_len);

/*
 * A connection to url that has done the SP handshake (berthd's header
 * read), for sp_raw_request; the descriptor (caller closes), or -1.
 */
int sp_raw_open(const char *url, int timeout_ms);

/*
 * The same from the local IPv4 address `source` (tcp:// only; NULL: the
 * kernel's choice): 127.0.0.2 is another peer address on loopback.
 */
int sp_raw_open_from(const char *url, const char *source, int timeout_ms);

/* One request on fd, opened by sp_raw_open(url), and its answer; fd stays open. */
enum sp_raw_result sp_raw_request(int fd, const char *url, const void *body, size_t len,
    int timeout_ms, void **answer, size_t *answer_len);

/*
 * A connection to url (non-blocking, close-on-exec) once connect(2)
 * succeeded within timeout_ms; -1 when it did not. Nothing is sent.
 */
int sp_raw_connect(const char *url, int timeout_ms);
int sp_raw_connect_from(const char *url, const char *source, int timeout_ms);

/*
 * A peer that holds a connection without asking anything: connects, sends
 * the SP header and, when `partial`, the start of a request it never
 * finishes (the frame announces 100 bytes, 7 follow). Does not wait for
 * berthd's header: a listener that accepts nothing now leaves the
 * connection in the kernel's queue. The descriptor, or -1.
 */
int sp_raw_open_stalled(const char *url, bool partial, int timeout_ms);
int sp_raw_open_stalled_from(const char *url, const char *source, bool partial, int timeout_ms);

/*
 * Whether the peer has closed fd (what it sends is read and dropped),
 * waiting up to timeout_ms; 0 only looks.
 */
bool sp_raw_closed(int fd, int timeout_ms);

#endif
