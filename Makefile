# berth - a service manager for Docker hosts.
#
# The Makefile shows the architecture: generated protocol code and common/
# are linked into both sides; server/ objects make berthd; client/ objects
# make libberth, and the CLI links libberth and nothing of the server.
#
#   make            build berthd, berth, libberth
#   make run        the main job: start berthd (and Docker) and show it working
#   make test       every test (installs missing Debian packages, starts Docker)
#   make check-asan the tests under AddressSanitizer + UBSan
#   make test-valgrind  the unit tests under valgrind
#   make format     clang-format every C file
#   V=1             show the compiler's command lines

PREFIX   ?= /usr/local
BUILD    ?= build
CC       ?= cc
PKG_CONFIG ?= pkg-config
PROTOC_C ?= protoc-c
CFLAGS   ?= -O2 -g
SANITIZE ?=
V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)
VERSION  := 0.1.0
SOVERSION := 0

PKGS     := libprotobuf-c libcurl sqlite3 jansson libarchive
NNG_LIBS ?= -lnng
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS ?= -lcmocka

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-missing-field-initializers
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANITIZE) -fPIC -MMD -MP \
             -DBERTH_VERSION='"$(VERSION)"' \
             -I$(BUILD)/gen -Icommon -Iclient $(PKG_CFLAGS)
LDLIBS   := $(PKG_LIBS) $(NNG_LIBS) -lpthread
ALL_LDFLAGS = $(LDFLAGS) $(SANITIZE)

GEN_DIR  := $(BUILD)/gen/berth/v1
GEN_SRC  := $(GEN_DIR)/berth.pb-c.c
GEN_HDR  := $(GEN_DIR)/berth.pb-c.h

# --- object lists: the architecture --------------------------------------
COMMON_SRC := $(GEN_SRC) $(wildcard common/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c)) $(BUILD)/migrations.c
LIB_SRC    := $(wildcard client/*.c)
CLI_SRC    := $(filter-out client/cli/main.c,$(wildcard client/cli/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(patsubst $(BUILD)/%,%,$(1)))
COMMON_OBJ := $(call obj,$(COMMON_SRC))
SERVER_OBJ := $(call obj,$(SERVER_SRC))
LIB_OBJ    := $(call obj,$(LIB_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))

BERTHD   := $(BUILD)/berthd
BERTH    := $(BUILD)/berth
LIBA     := $(BUILD)/libberth.a
LIBSO    := $(BUILD)/libberth.so.$(VERSION)
DEMO     := $(BUILD)/demo/berth-demo

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
E2E_TESTS  := $(patsubst tests/e2e/%.c,$(BUILD)/tests/%,$(wildcard tests/e2e/test_*.c))
TEST_SUPPORT := $(call obj,$(wildcard tests/support/*.c))

.PHONY: all deps run test test-unit test-e2e check-asan test-valgrind format clean demo
all: $(BERTHD) $(BERTH) $(LIBA) $(LIBSO) $(BUILD)/berth.pc

# --- generated code ---------------------------------------------------------
$(GEN_SRC) $(GEN_HDR): proto/berth/v1/berth.proto
	@mkdir -p $(BUILD)/gen
	$(PROTOC_C) --c_out=$(BUILD)/gen -Iproto berth/v1/berth.proto

# The SQL migrations are compiled into berthd: a binary always knows exactly
# the schema versions it can handle.
$(BUILD)/migrations.c: $(sort $(wildcard migrations/*.sql)) migrations/embed.sh
	@mkdir -p $(BUILD)
	sh migrations/embed.sh $(sort $(wildcard migrations/*.sql)) > $@.tmp && mv $@.tmp $@

$(call obj,$(BUILD)/migrations.c): ALL_CFLAGS += -Iserver

$(BUILD)/obj/%.o: %.c | $(GEN_HDR)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: $(BUILD)/%.c | $(GEN_HDR)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# --- the two sides ----------------------------------------------------------
$(BERTHD): $(call obj,server/main.c) $(SERVER_OBJ) $(COMMON_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(LIBA): $(LIB_OBJ) $(COMMON_OBJ)
	rm -f $@
	ar rcs $@ $^

$(LIBSO): $(LIB_OBJ) $(COMMON_OBJ)
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,libberth.so.$(SOVERSION) -o $@ $^ \
	    $(shell $(PKG_CONFIG) --libs libprotobuf-c) $(NNG_LIBS) -lpthread
	ln -sf libberth.so.$(VERSION) $(BUILD)/libberth.so.$(SOVERSION)
	ln -sf libberth.so.$(VERSION) $(BUILD)/libberth.so

$(BERTH): $(call obj,client/cli/main.c) $(CLI_OBJ) $(LIBA)
	$(CC) $(ALL_LDFLAGS) -o $@ $(call obj,client/cli/main.c) $(CLI_OBJ) $(LIBA) $(LDLIBS)

$(BUILD)/berth.pc: client/berth.pc.in
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# --- the demo service: a static HTTP server for images FROM scratch ---------
demo: $(DEMO)
$(DEMO): tests/demo/berth-demo.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -O2 -static -o $@ $<
	cp tests/demo/Dockerfile $(dir $@)/Dockerfile

# --- tests -------------------------------------------------------------------
# Each test links everything but the two main.o files.
$(BUILD)/tests/%: tests/unit/%.c $(TEST_SUPPORT) $(SERVER_OBJ) $(CLI_OBJ) $(LIB_OBJ) $(COMMON_OBJ) | $(GEN_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/support -Iserver -Iclient/cli $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) $(CMOCKA_LIBS)

$(BUILD)/tests/%: tests/e2e/%.c $(TEST_SUPPORT) $(SERVER_OBJ) $(CLI_OBJ) $(LIB_OBJ) $(COMMON_OBJ) | $(GEN_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/support -Iserver -Iclient/cli $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) $(CMOCKA_LIBS)

deps:
	@sh tests/deps.sh

test-build: all $(DEMO) $(UNIT_TESTS) $(E2E_TESTS)

# The README's test command. Installs what is missing, starts Docker when
# none answers, runs every test binary and ends with "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory test-build
	@sh tests/docker-up.sh
	@BUILD=$(BUILD) sh tests/run.sh $(UNIT_TESTS) $(E2E_TESTS)

test-unit: test-build
	@BUILD=$(BUILD) sh tests/run.sh $(UNIT_TESTS)

check-asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

test-valgrind: test-build
	@BUILD=$(BUILD) VALGRIND="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99" \
	    sh tests/run.sh $(UNIT_TESTS)

# The README's main command: berthd on a local data directory, then the CLI.
run: deps
	@$(MAKE) --no-print-directory all $(DEMO)
	@sh tests/docker-up.sh
	@BUILD=$(BUILD) sh tests/demo/run.sh

format:
	clang-format -i $(wildcard common/*.[ch] server/*.[ch] client/*.[ch] client/cli/*.[ch] tests/*/*.[ch])

clean:
	rm -rf $(BUILD) build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
