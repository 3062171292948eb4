/*
 * registry_fixture.h - unit test support: a registry on a fresh database
 * file in a temporary directory, migrated, with an arena; removed after.
 * setup/teardown have cmocka's shape (state is the fixture).
 */
#ifndef BERTH_TEST_REGISTRY_FIXTURE_H
#define BERTH_TEST_REGISTRY_FIXTURE_H

#include "base/arena.h"
#include "store/registry.h"

struct registry_fixture {
	char dir[64];
	char path[128];
	struct registry *reg;
	struct arena arena;
};

/* A fixture in *state: 0, or -1 with the reason on stderr. */
int registry_fixture_setup(void **state);

/* Closes and removes what setup made; 0, or -1 when the directory stays. */
int registry_fixture_teardown(void **state);

#endif
