/*
 * template_rpc.h - template lookups that other handlers share.
 */
#ifndef BERTH_TEMPLATE_RPC_H
#define BERTH_TEMPLATE_RPC_H

#include "base/call.h"

/*
 * Validates `name` (reported as `field`) and loads the template. Unknown
 * names fail with NOT_FOUND and the seed's message listing the available
 * templates.
 */
int template_lookup(struct call *call, const char *field, const char *name,
    Berth__V1__Template **out);

/* NOT_FOUND: "Template 'x' not found. Available templates: a, b, ..." */
int template_not_found(struct call *call, const char *name);

#endif
