/*
 * format.h - the building blocks of the CLI's human output: "key: value"
 * blocks, tables, lists of names and ports, sizes, and the service table
 * that `ls` and `status` share.
 *
 * The cli_kv_* functions add to a two-column table (cli_kv_begin) and
 * never fail by themselves: a value that cannot be built marks the table
 * failed, and cli_table_end then reports RESOURCE_EXHAUSTED once. They
 * accept a NULL table (cli_kv_begin out of memory) for the same reason.
 */
#ifndef BERTH_CLI_FORMAT_H
#define BERTH_CLI_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "table.h"

/* Spaces between the columns of the CLI's tables. */
#define CLI_TABLE_GAP 3

/*
 * Finishes a table: prints it on cli->out, frees it (NULL is fine: out of
 * memory) and turns a failure into an outcome.
 */
int cli_table_end(struct cli *cli, struct cli_table *t);

/* A new "key: value" block, its values aligned; NULL when out of memory. */
struct cli_table *cli_kv_begin(void);

/* Adds "key: <printf>". */
void cli_kv_add(struct cli_table *kv, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds "key: value" and frees value; NULL (out of memory) fails the table. */
void cli_kv_add_owned(struct cli_table *kv, const char *key, char *value);

/* Adds "key: a, b, c", or "key: none" when the list is empty. */
void cli_kv_add_list(struct cli_table *kv, const char *key, char *const *items, size_t n);

/* Adds one "key: item" line per item, or "key: <empty>" once when there is none. */
void cli_kv_add_each(struct cli_table *kv, const char *key, char *const *items, size_t n,
    const char *empty);

/* "a, b, c"; `none` when the list is empty. Caller frees; NULL when out of memory. */
char *cli_join(char *const *items, size_t n, const char *none);

/* A command line as a shell would need it typed: 'quoted' where necessary. Caller frees. */
char *cli_shell_join(char *const *words, size_t n);

/* "8000+" for an open range (end 0), "8000-8099", or "8000" for one port. */
void cli_format_port_range(char *buf, size_t size, uint32_t start, uint32_t end);

/* Ascending ports with runs folded: "8000-8002, 8010", or "none". Caller frees. */
char *cli_format_port_list(const uint32_t *ports, size_t n);

/* Seconds as "90s", "10m" or "2h": the largest unit that divides them ("0s" for 0). */
void cli_format_duration(char *buf, size_t size, uint32_t seconds);

/* "512 B", "1.5 KiB", ... "2.0 PiB". */
void cli_format_bytes(char *buf, size_t size, uint64_t bytes);

/* The enum value's name, "?" when the descriptor lacks it. */
const char *cli_enum_name(const ProtobufCEnumDescriptor *e, int value);

/* s, or "-" when it is NULL or empty. */
const char *cli_dash_if_empty(const char *s);

/*
 * A cli_print_fn for replies that need no more than a fixed sentence:
 * prints `arg` (a string) and a newline, whatever the reply holds.
 */
int cli_print_sentence(struct cli *cli, const ProtobufCMessage *reply, const void *arg);

/* "3", or "3 (backoff)" / "3 (failed)" when the supervisor is not "ok". */
void cli_format_restarts(char *buf, size_t size, uint32_t restarts, const char *supervisor);

/* The service table of `ls` and `status`, or "No services.". Returns an outcome. */
/* "3", "2*" (outdated), "-" (unknown): ls's REV cell. */
void cli_format_revision(char *buf, size_t size, uint32_t revision, bool outdated);

int cli_print_services(struct cli *cli, Berth__V1__Service *const *services, size_t n);

#endif
