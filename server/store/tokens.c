/*
 * tokens.c - API tokens in SQLite; hashes with OpenSSL's libcrypto.
 *
 * Why one salted SHA-256 and not a slow password hash (PBKDF2, scrypt):
 * a token is 256 random bits, not something a person chose, so there is
 * no dictionary to try and brute force is hopeless however fast the hash;
 * a slow hash would only make every call slower. The salt keeps equal
 * tokens (there are none in practice) from having equal rows.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "clock.h"
#include "store/store_internal.h"
#include "store/tokens.h"
#include "validate.h"

#define SALT_BYTES 16
#define HASH_BYTES 32
/* last_used_at is written at most this often per token: no write per call. */
#define TOUCH_INTERVAL_S 60

static int
fail_db(sqlite3 *db, struct error *err)
{
	int rc = sqlite3_errcode(db) & 0xff;

	return error_set(err, rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? BERTH__V1__CODE__UNAVAILABLE
						      : BERTH__V1__CODE__INTERNAL,
	    "token database: %s", sqlite3_errmsg(db));
}

static const char *const role_names[] = {
	[RPC_ROLE_UNSET] = "?",
	[RPC_ROLE_PUBLIC] = "public",
	[RPC_ROLE_VIEWER] = "viewer",
	[RPC_ROLE_OPERATOR] = "operator",
	[RPC_ROLE_ADMIN] = "admin",
};

const char *
token_role_name(enum rpc_role role)
{
	return (unsigned)role < sizeof(role_names) / sizeof(role_names[0]) ? role_names[role] : "?";
}

enum rpc_role
token_role_parse(const char *name)
{
	for (int r = RPC_ROLE_VIEWER; r <= RPC_ROLE_ADMIN; r++)
		if (strcmp(name, role_names[r]) == 0)
			return (enum rpc_role)r;
	return RPC_ROLE_UNSET;
}

static int
random_bytes(unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/*
 * SHA-256, fetched from its provider once: OpenSSL 3 looks the algorithm up
 * again on every EVP_DigestInit_ex with EVP_sha256(), which cost more than
 * the hash itself, and a network client's every call hashes its token.
 */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
fetch_sha256(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* SHA-256(salt || token). */
static int
token_hash(const unsigned char *salt, const char *token, unsigned char out[HASH_BYTES])
{
	EVP_MD_CTX *ctx;
	unsigned int len = 0;
	int ok;

	pthread_once(&sha256_once, fetch_sha256);
	if (sha256 == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, sha256, NULL) == 1 &&
	    EVP_DigestUpdate(ctx, salt, SALT_BYTES) == 1 &&
	    EVP_DigestUpdate(ctx, token, strlen(token)) == 1 &&
	    EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == HASH_BYTES;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* True for "berth_" and 64 lowercase hex digits. */
static bool
well_formed(const char *token)
{
	size_t prefix = sizeof(TOKEN_PREFIX) - 1;

	if (strlen(token) != TOKEN_LEN || strncmp(token, TOKEN_PREFIX, prefix) != 0)
		return false;
	for (const char *p = token + prefix; *p != '\0'; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static void
rfc3339(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A fresh token in `token`, its id in `id`. */
static int
draw_token(char token[TOKEN_LEN + 1], char id[TOKEN_ID_LEN + 1])
{
	unsigned char secret[TOKEN_SECRET_BYTES];
	size_t prefix = sizeof(TOKEN_PREFIX) - 1;

	if (random_bytes(secret, sizeof(secret)) != 0)
		return -1;
	memcpy(token, TOKEN_PREFIX, prefix);
	for (size_t i = 0; i < sizeof(secret); i++)
		snprintf(token + prefix + 2 * i, 3, "%02x", secret[i]);
	explicit_bzero(secret, sizeof(secret));
	memcpy(id, token + prefix, TOKEN_ID_LEN);
	id[TOKEN_ID_LEN] = '\0';
	return 0;
}

int
tokens_create(struct registry *reg, const char *name, enum rpc_role role, char token[TOKEN_LEN + 1],
    struct error *err)
{
	sqlite3 *db = registry_db(reg);
	static const char sql[] = "INSERT INTO tokens (name, token_id, role, salt, hash, created_at) "
				  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
	unsigned char salt[SALT_BYTES], hash[HASH_BYTES];
	char now[32], id[TOKEN_ID_LEN + 1];
	sqlite3_stmt *st = NULL;
	int rc, code = 0;

	if (validate_name("name", name, err) != 0)
		return err != NULL ? err->code : BERTH__V1__CODE__INVALID_ARGUMENT;
	if (role < RPC_ROLE_VIEWER || role > RPC_ROLE_ADMIN)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "the role must be viewer, operator or admin");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail_db(db, err);
	rfc3339(time(NULL), now, sizeof(now));
	/* Two tokens sharing a random 48-bit id is astronomically rare: then draw again. */
	for (int attempt = 0;; attempt++) {
		if (random_bytes(salt, sizeof(salt)) != 0 || draw_token(token, id) != 0 ||
		    token_hash(salt, token, hash) != 0) {
			code = error_set(err, BERTH__V1__CODE__INTERNAL, "cannot make a token");
			break;
		}
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, token_role_name(role), -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, salt, sizeof(salt), SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, hash, sizeof(hash), SQLITE_STATIC);
		sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_PRIMARYKEY) {
			code = error_set(err, BERTH__V1__CODE__ALREADY_EXISTS,
			    "a token named %s exists (revoke it first)", name);
			break;
		}
		if (sqlite3_extended_errcode(db) != SQLITE_CONSTRAINT_UNIQUE || attempt >= 3) {
			code = fail_db(db, err);
			break;
		}
	}
	sqlite3_finalize(st);
	if (code != 0)
		explicit_bzero(token, TOKEN_LEN + 1);
	return code;
}

/*
 * Verified tokens, kept for TOKENS_KEEP_MS so that a network client's
 * calls do not each read the database and hash: a hit is a constant-time
 * compare with the token that matched (berthd holds every caller's token
 * in memory while it serves the call anyway, and wipes these). A token
 * revoked in this process is forgotten at once; one revoked by another
 * process (`berthd token revoke`) stops working within TOKENS_KEEP_MS,
 * which that command waits out before it returns. Any thread; kept_lock.
 */
#define KEPT_SLOTS 64

struct kept_token {
	char id[TOKEN_ID_LEN + 1]; /* "" = free */
	char token[TOKEN_LEN + 1]; /* the token that matched the row's hash */
	struct token_info info;
	int64_t read_at_ms; /* monotonic */
	time_t touched;     /* last_used_at written (or found recent) then */
};

static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t (*kept_clock)(void) = clock_monotonic_ms; /* TOKENS_KEEP_MS's; tests move it */
static struct kept_token kept[KEPT_SLOTS];
static uint64_t kept_epoch; /* +1 at every revocation here: rows read before are stale */

static void
kept_forget_all(void)
{
	pthread_mutex_lock(&kept_lock);
	explicit_bzero(kept, sizeof(kept));
	kept_epoch++;
	pthread_mutex_unlock(&kept_lock);
}

void
tokens_set_clock(int64_t (*now_ms)(void))
{
	kept_clock = now_ms != NULL ? now_ms : clock_monotonic_ms;
}

int
tokens_revoke(struct registry *reg, const char *name, struct error *err)
{
	sqlite3 *db = registry_db(reg);
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "DELETE FROM tokens WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
		return fail_db(db, err);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail_db(db, err);
	if (sqlite3_changes(db) == 0)
		return error_set(err, BERTH__V1__CODE__NOT_FOUND, "no token named %s", name);
	kept_forget_all();
	return 0;
}

void
tokens_forget_kept(void)
{
	kept_forget_all();
}

int
tokens_list(struct registry *reg, void (*fn)(void *arg, const struct token_info *t), void *arg, struct error *err)
{
	sqlite3 *db = registry_db(reg);
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
		"SELECT name, role, created_at, last_used_at FROM tokens ORDER BY name", -1, &st,
		NULL) != SQLITE_OK)
		return fail_db(db, err);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct token_info t;
		char role[16];

		store_copy_column(t.name, sizeof(t.name), st, 0);
		store_copy_column(role, sizeof(role), st, 1);
		t.role = token_role_parse(role);
		store_copy_column(t.created_at, sizeof(t.created_at), st, 2);
		store_copy_column(t.last_used_at, sizeof(t.last_used_at), st, 3);
		fn(arg, &t);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail_db(db, err);
}

/*
 * The connection's prepared statement for `sql`, reset: prepared on first
 * use and then kept by the connection (registry_close finalizes it with
 * the others). A network client's every call verifies its token, and
 * preparing the lookup each time was 60% of the instructions of such a
 * call. The connection belongs to the calling thread, as always here.
 */
static sqlite3_stmt *
kept_statement(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	while ((st = sqlite3_next_stmt(db, st)) != NULL) {
		if (!sqlite3_stmt_busy(st) && strcmp(sqlite3_sql(st), sql) == 0) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	}
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		return NULL;
	return st;
}

/* Records the use; a failure (the database is busy) only loses a timestamp. */
static void
touch(sqlite3 *db, const char *id, const char *now)
{
	sqlite3_stmt *st = kept_statement(db, "UPDATE tokens SET last_used_at = ?2 WHERE token_id = ?1");

	if (st == NULL)
		return;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	(void)sqlite3_step(st);
	sqlite3_reset(st);
}

/*
 * True when `token` is a fresh kept one: its info into *out, and *touch_due
 * when its last use is to be written now (the entry then counts it as
 * written). Also the epoch, for a miss's kept_store.
 */
static bool
kept_check(const char *token, const char *id, int64_t now_ms, time_t t, struct token_info *out,
    bool *touch_due, uint64_t *epoch)
{
	bool found = false;

	pthread_mutex_lock(&kept_lock);
	*epoch = kept_epoch;
	for (size_t i = 0; i < KEPT_SLOTS; i++) {
		struct kept_token *k = &kept[i];

		if (strcmp(k->id, id) != 0)
			continue;
		if (now_ms - k->read_at_ms < TOKENS_KEEP_MS &&
		    CRYPTO_memcmp(k->token, token, TOKEN_LEN) == 0) {
			*touch_due = t - k->touched >= TOUCH_INTERVAL_S;
			if (*touch_due) {
				rfc3339(t, k->info.last_used_at, sizeof(k->info.last_used_at));
				k->touched = t;
			}
			*out = k->info;
			found = true;
		}
		break;
	}
	pthread_mutex_unlock(&kept_lock);
	return found;
}

/*
 * Stores k over the entry of the same id, a free one, or the oldest one;
 * not when a revocation came after k was read (epoch).
 */
static void
kept_store(const struct kept_token *k, uint64_t epoch)
{
	size_t slot = 0;

	pthread_mutex_lock(&kept_lock);
	if (epoch != kept_epoch) {
		pthread_mutex_unlock(&kept_lock);
		return;
	}
	for (size_t i = 0; i < KEPT_SLOTS; i++) {
		if (strcmp(kept[i].id, k->id) == 0 || kept[i].id[0] == '\0') {
			slot = i;
			break;
		}
		if (kept[i].read_at_ms < kept[slot].read_at_ms)
			slot = i;
	}
	kept[slot] = *k;
	pthread_mutex_unlock(&kept_lock);
}

/* The row of token `id`: k (id, info), its salt and hash; UNAUTHENTICATED when there is none. */
static int
read_token(sqlite3 *db, const char *id, struct kept_token *k, unsigned char salt[SALT_BYTES],
    unsigned char hash[HASH_BYTES], struct error *err)
{
	static const char sql[] = "SELECT name, role, salt, hash, created_at, last_used_at "
				  "FROM tokens WHERE token_id = ?1";
	char role[16];
	sqlite3_stmt *st;
	int rc, code;

	if ((st = kept_statement(db, sql)) == NULL)
		return fail_db(db, err);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return error_set(err, BERTH__V1__CODE__UNAUTHENTICATED, "the token is not valid");
	}
	if (rc != SQLITE_ROW) {
		code = fail_db(db, err);
		sqlite3_reset(st);
		return code;
	}
	if (sqlite3_column_bytes(st, 2) != SALT_BYTES || sqlite3_column_bytes(st, 3) != HASH_BYTES) {
		sqlite3_reset(st);
		return error_set(err, BERTH__V1__CODE__UNAUTHENTICATED, "the token is not valid");
	}
	memset(k, 0, sizeof(*k));
	snprintf(k->id, sizeof(k->id), "%s", id);
	memcpy(salt, sqlite3_column_blob(st, 2), SALT_BYTES);
	memcpy(hash, sqlite3_column_blob(st, 3), HASH_BYTES);
	store_copy_column(k->info.name, sizeof(k->info.name), st, 0);
	store_copy_column(role, sizeof(role), st, 1);
	k->info.role = token_role_parse(role);
	store_copy_column(k->info.created_at, sizeof(k->info.created_at), st, 4);
	store_copy_column(k->info.last_used_at, sizeof(k->info.last_used_at), st, 5);
	sqlite3_reset(st);
	return 0;
}

int
tokens_verify(struct registry *reg, const char *token, struct token_info *out, struct error *err)
{
	sqlite3 *db = registry_db(reg);
	unsigned char hash[HASH_BYTES], salt[SALT_BYTES], want[HASH_BYTES];
	char id[TOKEN_ID_LEN + 1], stale[32];
	struct kept_token k;
	uint64_t epoch;
	int64_t now_ms = kept_clock();
	time_t t = time(NULL);
	bool touch_due;
	int code;

	if (!well_formed(token))
		return error_set(err, BERTH__V1__CODE__UNAUTHENTICATED, "the token is not valid");
	memcpy(id, token + sizeof(TOKEN_PREFIX) - 1, TOKEN_ID_LEN);
	id[TOKEN_ID_LEN] = '\0';
	if (kept_check(token, id, now_ms, t, out, &touch_due, &epoch)) {
		if (touch_due)
			touch(db, id, out->last_used_at);
		return 0;
	}

	if ((code = read_token(db, id, &k, salt, want, err)) != 0)
		return code;
	if (token_hash(salt, token, hash) != 0 || CRYPTO_memcmp(hash, want, HASH_BYTES) != 0)
		return error_set(err, BERTH__V1__CODE__UNAUTHENTICATED, "the token is not valid");
	/* Same format on both sides: the strings compare as the times do. */
	rfc3339(t - TOUCH_INTERVAL_S, stale, sizeof(stale));
	if (strcmp(k.info.last_used_at, stale) < 0) {
		rfc3339(t, k.info.last_used_at, sizeof(k.info.last_used_at));
		touch(db, id, k.info.last_used_at);
	}
	k.touched = t;
	k.read_at_ms = now_ms;
	memcpy(k.token, token, TOKEN_LEN + 1);
	kept_store(&k, epoch); /* only tokens that verified: a wrong one evicts nothing */
	explicit_bzero(k.token, sizeof(k.token));
	*out = k.info;
	return 0;
}
