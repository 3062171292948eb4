/*
 * status.h - gRPC canonical status codes, shared by berthd, libberth and the CLI.
 *
 * The numbers are gRPC's and the proto's (berth.v1.Code); this header only
 * adds names for them so that logs and the CLI print "NOT_FOUND", not "5".
 */
#ifndef BERTH_STATUS_H
#define BERTH_STATUS_H

#include "berth/v1/berth.pb-c.h"

#define STATUS_CODE_MAX BERTH__V1__CODE__UNAUTHENTICATED

/* "NOT_FOUND" for 5; "UNKNOWN" for a number that is not a code. */
const char *status_code_name(int code);

/* The code named by `name` ("NOT_FOUND"), or -1. */
int status_code_from_name(const char *name);

#endif
