/*
 * service_exec.h - ExecService: a command run in a service's container
 * (no TTY, no stdin), its exit code and bounded output.
 *
 * Worker threads, with the call's arena, deadline and registry connection.
 */
#ifndef BERTH_CORE_SERVICE_EXEC_H
#define BERTH_CORE_SERVICE_EXEC_H

#include "base/call.h"

#define SERVICE_EXEC_TIMEOUT_MS 30000
#define SERVICE_EXEC_MAX_TIMEOUT_MS 300000
/* Output kept per stream; more is read and dropped (truncated). */
#define SERVICE_EXEC_OUTPUT_MAX ((size_t)1 << 20)
/* Execs waited for at once: per container, and in all (each holds a worker). */
#define SERVICE_EXEC_PER_CONTAINER 4
#define SERVICE_EXEC_TOTAL 8
/* The command: at most this many arguments and bytes in all. */
#define SERVICE_EXEC_MAX_ARGS 256
#define SERVICE_EXEC_MAX_COMMAND_BYTES 65536

/*
 * Runs in->command in the service's running container and fills out
 * (strings in the arena, U+FFFD for bytes that are not UTF-8).
 * INVALID_ARGUMENT: bad id, empty or oversized command; NOT_FOUND: no such
 * service; FAILED_PRECONDITION: its container does not run (or the backend
 * cannot exec); RESOURCE_EXHAUSTED: too many execs at once;
 * DEADLINE_EXCEEDED: berth stopped waiting, the command may go on;
 * UNAVAILABLE: Docker does not answer.
 */
int service_exec(struct call *call, const Berth__V1__ExecServiceRequest *in,
    Berth__V1__ExecServiceResponse *out);

#endif
