/*
 * bench_floors.c - the floors berth's own work is built from, measured in
 * this run: protobuf-c encode+decode of a small message, one SQLite insert
 * in its own WAL transaction (synchronous=NORMAL, as the registry), and the
 * bind(2) test the port allocator makes for a candidate port.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "bench.h"
#include "core/ports.h"

#define PB_BATCH 1000
#define PB_BATCHES 200
#define SQL_INSERTS 2000
#define BIND_TESTS 5000
#define BIND_PORT 61999

static void
protobuf_floor(void)
{
	Berth__V1__GetServiceRequest inner = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	Berth__V1__RpcRequest env = BERTH__V1__RPC_REQUEST__INIT;
	uint8_t payload[128], buf[512];
	struct samples s = { 0 };
	size_t len;

	inner.service_id = "bench_instance_1";
	inner.registry_only = true;
	env.method = "/berth.v1.Berth/GetService";
	env.payload.data = payload;
	env.payload.len = berth__v1__get_service_request__pack(&inner, payload);
	env.timeout_ms = 60000;
	env.request_id = "0123456789abcdef0123456789abcdef";
	for (int b = 0; b < PB_BATCHES; b++) {
		int64_t t0 = bench_now_ns();

		for (int i = 0; i < PB_BATCH; i++) {
			Berth__V1__RpcRequest *back;

			len = berth__v1__rpc_request__pack(&env, buf);
			back = berth__v1__rpc_request__unpack(NULL, len, buf);
			if (back == NULL)
				abort();
			berth__v1__rpc_request__free_unpacked(back, NULL);
		}
		samples_add(&s, (double)(bench_now_ns() - t0) / PB_BATCH / 1000.0);
	}
	double p50 = samples_quantile(&s, 0.5);
	bench_row(&(struct bench_row){ "0 floors", "protobuf-c encode+decode, RpcRequest (~90 B)", p50,
	    "us", samples_quantile(&s, 0.99), NULL, NAN, NAN, "< 0.5 us",
	    p50 < 0.5 ? BENCH_HOLDS : BENCH_MISS });
	samples_free(&s);
}

static void
sqlite_floor(void)
{
	char dir[512], path[600];
	struct samples s = { 0 };
	sqlite3_stmt *st;
	sqlite3 *db;

	if (bench_make_dir("floors", dir, sizeof(dir)) != 0)
		return;
	snprintf(path, sizeof(path), "%s/floor.db", dir);
	remove(path);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db,
		"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		"CREATE TABLE t (id TEXT PRIMARY KEY, port INTEGER UNIQUE, created_at TEXT)",
		NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?1, ?2, ?3)", -1, &st, NULL) != SQLITE_OK) {
		bench_say("sqlite floor: %s", sqlite3_errmsg(db));
		return;
	}
	for (int i = 0; i < SQL_INSERTS; i++) {
		char id[32];
		int64_t t0 = bench_now_ns();

		snprintf(id, sizeof(id), "bench_instance_%d", i);
		sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, i + 1);
		sqlite3_bind_text(st, 3, "2026-11-26T10:00:00Z", -1, SQLITE_STATIC);
		sqlite3_step(st);
		sqlite3_reset(st);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		samples_add(&s, (double)(bench_now_ns() - t0) / 1000.0);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	bench_row(&(struct bench_row){ "0 floors", "SQLite insert, own WAL transaction",
	    samples_quantile(&s, 0.5), "us", samples_quantile(&s, 0.99), NULL, NAN, NAN, NULL,
	    BENCH_NA });
	samples_free(&s);
}

static void
bind_floor(void)
{
	struct ports *p = ports_new("127.0.0.1");
	struct samples s = { 0 };

	for (int i = 0; i < BIND_TESTS; i++) {
		int64_t t0 = bench_now_ns();

		ports_bind_test(p, BIND_PORT);
		samples_add(&s, (double)(bench_now_ns() - t0) / 1000.0);
	}
	ports_free(p);
	bench_row(&(struct bench_row){ "0 floors", "bind() test of one port", samples_quantile(&s, 0.5),
	    "us", samples_quantile(&s, 0.99), NULL, NAN, NAN, NULL, BENCH_NA });
	samples_free(&s);
}

int
main(void)
{
	protobuf_floor();
	sqlite_floor();
	bind_floor();
	return 0;
}
