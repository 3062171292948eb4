/*
 * sp_raw.h - one req0 request over an ipc:// socket, spoken by hand.
 *
 * A plain unix socket, the SP handshake (0 'S' 'P' 0, req0 = 0x30) and
 * framing (1, 64-bit big-endian length, the 4-byte request id, the body),
 * without nng. Tests use it to send what no nng client would (messages past
 * the transport limit), and for exchanges whose connection berthd may cut:
 * nng 1.5.2's client can hang for good in nng_close after such a cut, and
 * one stuck close blocks nng's reaper for the whole test process.
 */
#ifndef BERTH_TEST_SP_RAW_H
#define BERTH_TEST_SP_RAW_H

#include <stddef.h>

enum sp_raw_result {
	SP_RAW_ANSWERED, /* *answer holds the reply's body (malloc'ed; caller frees) */
	SP_RAW_CLOSED,   /* the server closed the connection instead of answering */
	SP_RAW_TIMEOUT,  /* neither an answer nor a close within timeout_ms */
	SP_RAW_ERROR,    /* could not connect or handshake */
};

enum sp_raw_result sp_raw_exchange(const char *ipc_url, const void *body, size_t len,
    int timeout_ms, void **answer, size_t *answer_len);

#endif
