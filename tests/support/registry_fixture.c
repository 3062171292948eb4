/*
 * registry_fixture.c - a throwaway migrated registry for unit tests.
 */
#include <stdio.h>
#include <stdlib.h>

#include "registry_fixture.h"

int
registry_fixture_setup(void **state)
{
	struct registry_fixture *f = calloc(1, sizeof(*f));
	struct error err = { 0 };

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-registry-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
	if (registry_open(&f->reg, f->path, true, &err) != 0) {
		fprintf(stderr, "registry_open: %s\n", err.message);
		free(f);
		return -1;
	}
	arena_init(&f->arena);
	*state = f;
	return 0;
}

int
registry_fixture_teardown(void **state)
{
	struct registry_fixture *f = *state;
	char cmd[128];

	arena_reset(&f->arena);
	registry_close(f->reg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}
