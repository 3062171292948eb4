/*
 * tokens.h - berthd's API tokens: creation, lookup, revocation (SQL on the
 * registry database's `tokens` table, migration 004).
 *
 * A token is "berth_" followed by 64 hex digits: 32 random bytes from
 * getrandom(2). It is shown once, when created; the database keeps a
 * random 16-byte salt and SHA-256(salt || token). The first 12 hex digits
 * of the random part are the token's id, stored in clear and indexed, so
 * verifying a call is one indexed lookup and one hash, however many tokens
 * exist.
 *
 * Every function takes the caller's SQLite connection (berthd: the worker's
 * registry, registry_db()) and is safe on any thread that owns it. Codes
 * are berth.v1.Code values (0 = OK); `err` gets a sentence on failure.
 */
#ifndef BERTH_TOKENS_H
#define BERTH_TOKENS_H

#include <stddef.h>
#include <stdint.h>


#include "base/role.h"
#include "store/registry.h"

#define TOKEN_PREFIX "berth_"
#define TOKEN_SECRET_BYTES 32
#define TOKEN_LEN (sizeof(TOKEN_PREFIX) - 1 + 2 * TOKEN_SECRET_BYTES) /* 70 */
#define TOKEN_ID_LEN 12

/* What the database knows about a token (never the token). */
struct token_info {
	char name[64];
	enum rpc_role role;
	char created_at[32];
	char last_used_at[32]; /* "" = never */
};

/* "viewer" for RPC_ROLE_VIEWER; "public", "admin" ... ; "?" for anything else. */
const char *token_role_name(enum rpc_role role);

/* RPC_ROLE_VIEWER for "viewer", also operator and admin; RPC_ROLE_UNSET otherwise. */
enum rpc_role token_role_parse(const char *name);

/*
 * Creates a token called `name` (validate_name's rules) with `role`
 * (viewer, operator or admin) and writes it, NUL-terminated, to `token`.
 * ALREADY_EXISTS when the name is taken; INVALID_ARGUMENT for a bad name
 * or role.
 */
int tokens_create(struct registry *reg, const char *name, enum rpc_role role, char token[TOKEN_LEN + 1],
    struct error *err);

/*
 * Deletes the token called `name`: calls with it fail from now on in this
 * process, and within TOKENS_KEEP_MS in a berthd running elsewhere on the
 * same database (tokens_verify keeps verified tokens that long). NOT_FOUND
 * if none.
 */
int tokens_revoke(struct registry *reg, const char *name, struct error *err);

/* Calls fn for every token, sorted by name. */
int tokens_list(struct registry *reg, void (*fn)(void *arg, const struct token_info *t), void *arg,
    struct error *err);

/* How long a verified token is trusted without reading its row again. */
#define TOKENS_KEEP_MS 1000

/*
 * The clock TOKENS_KEEP_MS is counted on (monotonic milliseconds); NULL
 * restores clock_monotonic_ms. For tests, which move it by hand; set it
 * before any tokens_verify runs.
 */
void tokens_set_clock(int64_t (*now_ms)(void));

/* Forgets every verified token kept (a reload): the next call reads its row. */
void tokens_forget_kept(void);

/*
 * Checks `token` against the database: 0 with *out filled when it is a
 * live token; UNAUTHENTICATED when it is malformed, unknown, revoked or
 * wrong (compared in constant time); UNAVAILABLE or INTERNAL when the
 * database fails. Records the use (last_used_at) at most once a minute.
 */
int tokens_verify(struct registry *reg, const char *token, struct token_info *out, struct error *err);

#endif
