/*
 * role.h - who may call what: the roles of callers and of tokens.
 *
 * The RPC routes name the least role a method needs (rpc/dispatch.h); the
 * store keeps a role with every token (store/tokens.h); api/auth.c decides
 * what a caller's role is worth.
 */
#ifndef BERTH_ROLE_H
#define BERTH_ROLE_H

/*
 * The least role a caller needs for a method. What a role is worth is the
 * application's business (berthd: auth.c, from tokens); the RPC server only
 * carries it to its authorize hook. A route that names none is UNSET, which
 * the hook must treat as the highest role: forgetting fails closed.
 */
enum rpc_role {
	RPC_ROLE_UNSET = 0,
	RPC_ROLE_PUBLIC,   /* anyone, no token (Health) */
	RPC_ROLE_VIEWER,   /* reads */
	RPC_ROLE_OPERATOR, /* runs services */
	RPC_ROLE_ADMIN,    /* changes templates, cleans up everything, shuts down */
};

#endif
