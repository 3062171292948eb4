# berth - a service manager for Docker hosts.
#
# The Makefile shows the architecture: generated protocol code and common/
# are linked into both sides; server/ objects make berthd; client/ objects
# make libberth, and the CLI links libberth and nothing of the server.
# berthd's objects come layer by layer, lowest first (docs/ARCHITECTURE.md);
# `make check-layers` keeps every #include pointing down.
#
#   make            build berthd, berth, libberth
#   make run        the main job: start berthd (and Docker) and show it working
#   make test       every test (installs missing Debian packages, starts Docker)
#   make check-asan the tests under AddressSanitizer + UBSan
#   make test-valgrind  the unit tests under valgrind
#   make fuzz       libFuzzer on the request path for FUZZ_SECONDS (clang, build-fuzz/)
#   make bench      the benchmarks: one table of figures against their floors
#   make chaos      load, faults and hostile input at full length (<15 min), with figures
#   make format     clang-format every C file
#   make install    install under $(DESTDIR)$(PREFIX); make uninstall undoes it
#   V=1             show the compiler's command lines

PREFIX   ?= /usr/local
BUILD    ?= build
CC       ?= cc
PKG_CONFIG ?= pkg-config
PROTOC_C ?= protoc-c
PROTOC   ?= protoc
CFLAGS   ?= -O2 -g
SANITIZE ?=
V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)
VERSION  := 0.2.0
# 1: since 0.2.0 libberth.so exports only berth_* (client/libberth.map).
SOVERSION := 1

PKGS     := libprotobuf-c libcurl sqlite3 jansson inih libcrypto libmicrohttpd
# Headers only: berthd loads libarchive with dlopen when a build needs it
# (server/engine/docker.c), under the name its binaries carry (SONAME).
DLOPEN_PKGS := libarchive
LIBARCHIVE_SONAME ?= libarchive.so.13
NNG_LIBS ?= -lnng
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) $(DLOPEN_PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS ?= -lcmocka
# The CLI alone reads YAML (berth plan/apply -f berth.yaml): libyaml.
CLI_PKGS := yaml-0.1
CLI_LIBS := $(shell $(PKG_CONFIG) --libs $(CLI_PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-missing-field-initializers
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANITIZE) -fPIC -MMD -MP \
             -DBERTH_VERSION='"$(VERSION)"' \
             -I$(BUILD)/gen -Icommon -Iclient $(PKG_CFLAGS)
LDLIBS   := $(PKG_LIBS) $(NNG_LIBS) -lpthread
ALL_LDFLAGS = $(LDFLAGS) $(SANITIZE)

GEN_DIR  := $(BUILD)/gen/berth/v1
# GET /v1/openapi.json: written at build time from the generated descriptors
# by tools/gen_openapi.c and compiled into berthd (server/http/openapi.h).
OPENAPI_GEN := $(BUILD)/tools/gen_openapi
OPENAPI_SRC := $(BUILD)/openapi_json.c
OPENAPI_JSON := $(BUILD)/openapi.json
GEN_SRC  := $(GEN_DIR)/berth.pb-c.c
GEN_HDR  := $(GEN_DIR)/berth.pb-c.h

# --- object lists: the architecture --------------------------------------
# The Python client's messages: protoc --python_out, never committed.
PY_DIR   := $(BUILD)/python
PY_GEN   := $(PY_DIR)/berth/v1/berth_pb2.py

# The JSON codec needs jansson: berthd, the CLI and the tests link it,
# libberth (protobuf-c and nng only) does not.
COMMON_JSON_SRC := common/json_codec.c
COMMON_SRC := $(GEN_SRC) $(filter-out $(COMMON_JSON_SRC),$(wildcard common/*.c))
# berthd's layers, lowest first. A folder may include its own headers and
# those of the folders it names in LAYER_DEPS (see check-layers).
SERVER_LAYERS := base engine store core rpc http api daemon
comma := ,
LAYER_DEPS_base   :=
LAYER_DEPS_engine := base
LAYER_DEPS_store  := base
LAYER_DEPS_core   := base engine store
LAYER_DEPS_rpc    := base
LAYER_DEPS_http   := base rpc
LAYER_DEPS_api    := base engine store core rpc http
LAYER_DEPS_daemon := base engine store core rpc http api
SERVER_MAIN := server/daemon/main.c
SERVER_SRC := $(filter-out $(SERVER_MAIN),$(foreach l,$(SERVER_LAYERS),$(wildcard server/$(l)/*.c))) \
              $(BUILD)/migrations.c $(OPENAPI_SRC) $(BUILD)/console_assets.c
LIB_SRC    := $(wildcard client/*.c)
CLI_SRC    := $(filter-out client/cli/main.c,$(wildcard client/cli/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(patsubst $(BUILD)/%,%,$(1)))
COMMON_OBJ := $(call obj,$(COMMON_SRC))
COMMON_JSON_OBJ := $(call obj,$(COMMON_JSON_SRC))
SERVER_OBJ := $(call obj,$(SERVER_SRC))
# Server headers are named by layer ("store/registry.h"); only the server
# and the tests that reach inside it see them.
$(SERVER_OBJ) $(call obj,$(SERVER_MAIN)): ALL_CFLAGS += -Iserver
LIB_OBJ    := $(call obj,$(LIB_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))

BERTHD   := $(BUILD)/berthd
BERTH    := $(BUILD)/berth
LIBA     := $(BUILD)/libberth.a
LIBSO    := $(BUILD)/libberth.so.$(VERSION)
DEMO     := $(BUILD)/demo/berth-demo

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
BENCHES    := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/bench_*.c))
# berthd is started by the e2e tests' own code (tests/support), without cmocka.
BENCH_SUPPORT := $(call obj,tests/bench/bench.c tests/support/berthd_proc.c tests/support/e2e.c tests/support/http.c)
$(BENCH_SUPPORT): ALL_CFLAGS += -Iserver -Itests/support
# test_cluster needs the three-node swarm of tests/cluster-up.sh: make test-cluster.
CLUSTER_TEST := $(BUILD)/tests/test_cluster
E2E_TESTS  := $(filter-out $(CLUSTER_TEST),$(patsubst tests/e2e/%.c,$(BUILD)/tests/%,$(wildcard tests/e2e/test_*.c)))
TEST_SUPPORT := $(call obj,$(wildcard tests/support/*.c))
$(TEST_SUPPORT): ALL_CFLAGS += -Iserver

.PHONY: all deps run test test-cluster test-unit test-e2e check-asan test-valgrind format clean demo bench chaos \
        check-layers
all: $(BERTHD) $(BERTH) $(LIBA) $(LIBSO) $(BUILD)/berth.pc $(BUILD)/berthd.conf $(OPENAPI_JSON)

# --- generated code ---------------------------------------------------------
$(GEN_SRC) $(GEN_HDR): proto/berth/v1/berth.proto
	@mkdir -p $(BUILD)/gen
	$(PROTOC_C) --c_out=$(BUILD)/gen -Iproto berth/v1/berth.proto

python: $(PY_GEN)
$(PY_GEN): proto/berth/v1/berth.proto
	@mkdir -p $(PY_DIR)
	$(PROTOC) --python_out=$(PY_DIR) -Iproto berth/v1/berth.proto
# test_ecosystem runs the Python client (order-only: not linked in).
$(BUILD)/tests/test_ecosystem: | $(PY_GEN)

# The SQL migrations are compiled into berthd: a binary always knows exactly
# the schema versions it can handle.
$(BUILD)/migrations.c: $(sort $(wildcard migrations/*.sql)) migrations/embed.sh
	@mkdir -p $(BUILD)
	sh migrations/embed.sh $(sort $(wildcard migrations/*.sql)) > $@.tmp && mv $@.tmp $@

# The web console's files (plain HTML, CSS, JavaScript) are compiled in the
# same way: berthd serves the console that matches it.
CONSOLE_FILES := $(sort $(wildcard server/http/console/*))
$(BUILD)/console_assets.c: $(CONSOLE_FILES) server/http/embed-console.sh
	@mkdir -p $(BUILD)
	sh server/http/embed-console.sh $(CONSOLE_FILES) > $@.tmp && mv $@.tmp $@

# The OpenAPI document: a small program on the generated descriptors, run
# here; its C output is part of berthd, its JSON output is for people.
$(OPENAPI_GEN): tools/gen_openapi.c $(GEN_SRC) | $(GEN_HDR)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tools/gen_openapi.c $(GEN_SRC) $(LDLIBS)
$(OPENAPI_SRC): $(OPENAPI_GEN)
	$(OPENAPI_GEN) --c $@.tmp $(VERSION) && mv $@.tmp $@
$(OPENAPI_JSON): $(OPENAPI_GEN)
	$(OPENAPI_GEN) --json $@.tmp $(VERSION) && mv $@.tmp $@

$(call obj,server/engine/docker_tar.c): ALL_CFLAGS += -DLIBARCHIVE_SONAME='"$(LIBARCHIVE_SONAME)"'

$(BUILD)/obj/%.o: %.c | $(GEN_HDR)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: $(BUILD)/%.c | $(GEN_HDR)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# --- the two sides ----------------------------------------------------------
$(BERTHD): $(call obj,$(SERVER_MAIN)) $(SERVER_OBJ) $(COMMON_OBJ) $(COMMON_JSON_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(LIBA): $(LIB_OBJ) $(COMMON_OBJ)
	rm -f $@
	ar rcs $@ $^

$(LIBSO): $(LIB_OBJ) $(COMMON_OBJ) client/libberth.map
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,libberth.so.$(SOVERSION) \
	    -Wl,--version-script=client/libberth.map -o $@ $(filter %.o,$^) \
	    $(shell $(PKG_CONFIG) --libs libprotobuf-c) $(NNG_LIBS) -lpthread
	ln -sf libberth.so.$(VERSION) $(BUILD)/libberth.so.$(SOVERSION)
	ln -sf libberth.so.$(VERSION) $(BUILD)/libberth.so

$(BERTH): $(call obj,client/cli/main.c) $(CLI_OBJ) $(COMMON_JSON_OBJ) $(LIBA)
	$(CC) $(ALL_LDFLAGS) -o $@ $(call obj,client/cli/main.c) $(CLI_OBJ) $(COMMON_JSON_OBJ) $(LIBA) $(LDLIBS) $(CLI_LIBS)

$(BUILD)/berth.pc: client/berth.pc.in
	sed $(PC_SED) $< > $@

# --- the demo service: a static HTTP server for images FROM scratch ---------
demo: $(DEMO)
$(DEMO): tests/demo/berth-demo.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -O2 -static -o $@ $<
	cp tests/demo/Dockerfile $(dir $@)/Dockerfile

# --- the layers hold ---------------------------------------------------------
# Every server file includes only its own folder's headers and those of the
# layers under it (LAYER_DEPS_*); SQLite is the store's alone, libcurl the
# engine's. Prints each include that points the wrong way and fails.
check-layers:
	@sh tests/check-layers.sh $(foreach l,$(SERVER_LAYERS),$(l):$(subst $(eval) ,$(comma),$(strip $(LAYER_DEPS_$(l)))))

# --- tests -------------------------------------------------------------------
# Each test links everything but the two main.o files.
define link_test
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/support -Iserver -Iclient/cli $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) $(CLI_LIBS) $(CMOCKA_LIBS)
endef
TEST_LINK := $(TEST_SUPPORT) $(SERVER_OBJ) $(CLI_OBJ) $(LIB_OBJ) $(COMMON_OBJ) $(COMMON_JSON_OBJ)
$(BUILD)/tests/%: tests/unit/%.c $(TEST_LINK) | $(GEN_HDR)
	$(link_test)
$(BUILD)/tests/%: tests/e2e/%.c $(TEST_LINK) | $(GEN_HDR)
	$(link_test)

deps:
	@sh tests/deps.sh

# What the e2e tests run: the binaries, the demo image's server, the
# Python client's messages.
E2E_NEEDS := all $(DEMO) $(PY_GEN)
test-build: $(E2E_NEEDS) $(UNIT_TESTS) $(E2E_TESTS)

# One test binary, or some of its tests: T=test_lifecycle runs that binary,
# T=test_lifecycle:'*restart*' only its tests whose names match (cmocka's
# filter, through BERTH_TEST_FILTER; tests/support/test_filter.c).
T ?=
T_BIN    := $(word 1,$(subst :, ,$(T)))
T_FILTER := $(word 2,$(subst :, ,$(T)))
SELECTED := $(if $(T),$(BUILD)/tests/$(T_BIN),$(UNIT_TESTS) $(E2E_TESTS))

# The engine-facing suites run a second time against Podman's
# Docker-compatible API (tests/podman-up.sh starts one; tests/run.sh's
# podman: prefix). ENGINE=podman with T runs that one binary on Podman only.
PODMAN_SUITES := test_lifecycle test_operations test_events test_supervisor test_health \
    test_rollout test_docker test_scale test_revisions test_template_runtime test_logs_exec
ENGINE ?= docker
ifeq ($(ENGINE),podman)
RUNS := $(if $(T),podman:$(BUILD)/tests/$(T_BIN),$(addprefix podman:$(BUILD)/tests/,$(PODMAN_SUITES)))
else
RUNS := $(SELECTED) $(if $(T),,$(addprefix podman:$(BUILD)/tests/,$(PODMAN_SUITES)))
endif

# The README's test command. Installs what is missing, starts Docker when
# none answers, checks the layers, runs every test binary (or T's) and ends
# with "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory $(E2E_NEEDS) $(SELECTED)
	@$(MAKE) --no-print-directory check-layers
	@sh tests/docker-up.sh
	@PODMAN_HOST=$$(case '$(RUNS)' in *podman:*) BUILD=$(BUILD) sh tests/podman-up.sh;; esac) \
	    BUILD=$(BUILD) BERTH_TEST_FILTER='$(T_FILTER)' sh tests/run.sh $(RUNS)

# The swarm backend on a real cluster: three dockerds in network namespaces
# and a registry (tests/cluster-up.sh), test_cluster against them, then
# everything of the cluster removed again (also when a test failed). The
# host's Docker engine only builds the demo image.
test-cluster: deps
	@$(MAKE) --no-print-directory $(E2E_NEEDS) $(CLUSTER_TEST)
	@sh tests/docker-up.sh
	@sh tests/cluster-up.sh
	@BUILD=$(BUILD) TEST_TIMEOUT=900 sh tests/run.sh $(CLUSTER_TEST); rc=$$?; \
	    sh tests/cluster-down.sh; exit $$rc

# The unit tests alone: no Docker, no demo image, no e2e binaries.
test-unit: all $(UNIT_TESTS)
	@BUILD=$(BUILD) sh tests/run.sh $(UNIT_TESTS)

# The end-to-end tests alone, against the real Docker engine.
test-e2e: deps
	@$(MAKE) --no-print-directory $(E2E_NEEDS) $(E2E_TESTS)
	@sh tests/docker-up.sh
	@BUILD=$(BUILD) sh tests/run.sh $(E2E_TESTS)

check-asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

test-valgrind: test-build
	@BUILD=$(BUILD) VALGRIND="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --suppressions=tests/valgrind.supp" \
	    sh tests/run.sh $(UNIT_TESTS)

# --- fuzzing -------------------------------------------------------------------
# libFuzzer (clang) with ASan+UBSan, into build-fuzz/: raw bytes through a
# worker's whole request path (tests/fuzz/fuzz_rpc.c) for FUZZ_SECONDS.
# Crashes land in build-fuzz/crash-*; the corpus grows in build-fuzz/corpus.
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build-fuzz
FUZZ_FLAGS   ?= -max_len=65536 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined

.PHONY: fuzz
fuzz:
	@dpkg-query -W -f='$${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "ok installed" || \
	    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang libclang-rt-14-dev; }
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer" SANITIZE="$(FUZZ_SANITIZE) -fsanitize=fuzzer-no-link" \
	    WARN="$(WARN) -Wno-error" $(FUZZ_BUILD)/fuzz_rpc $(FUZZ_BUILD)/fuzz_seeds
	@mkdir -p $(FUZZ_BUILD)/corpus
	@$(FUZZ_BUILD)/fuzz_seeds $(FUZZ_BUILD)/corpus
	ASAN_OPTIONS=detect_leaks=1 $(FUZZ_BUILD)/fuzz_rpc $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
	    -dict=tests/fuzz/rpc.dict -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus

$(BUILD)/fuzz_rpc: tests/fuzz/fuzz_rpc.c $(SERVER_OBJ) $(COMMON_OBJ) $(COMMON_JSON_OBJ) | $(GEN_HDR)
	$(CC) $(ALL_CFLAGS) -Iserver -fsanitize=fuzzer $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz_seeds: tests/fuzz/fuzz_seeds.c $(COMMON_OBJ) | $(GEN_HDR)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# The README's main command: berthd on a local data directory, then the CLI.
run: deps
	@$(MAKE) --no-print-directory all $(DEMO)
	@sh tests/docker-up.sh
	@BUILD=$(BUILD) sh tests/demo/run.sh

# --- benchmarks ----------------------------------------------------------------
# Not part of `make test`: speed is judged here, never by timed tests. Prints
# one table of figures against their floors (see README, Performance).
$(BUILD)/bench/%: tests/bench/%.c $(BENCH_SUPPORT) $(SERVER_OBJ) $(LIB_OBJ) $(COMMON_OBJ) $(COMMON_JSON_OBJ) | $(GEN_HDR)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/bench -Itests/support -Iserver $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) -lm

bench: deps
	@$(MAKE) --no-print-directory all $(DEMO) $(BENCHES)
	@sh tests/docker-up.sh
	@PODMAN_HOST=$$(BUILD=$(BUILD) sh tests/podman-up.sh || true) \
	    BUILD=$(BUILD) sh tests/bench/run.sh $(BENCHES)

# --- chaos ---------------------------------------------------------------------
# tests/e2e/test_chaos_*.c at their full level (make test runs their quick
# part): 16 clients of load, SIGKILLs, Docker outages, a full disk, hostile
# requests, berthd under valgrind. Each suite ends with a table of figures,
# also appended as Markdown to $(BUILD)/chaos-report.md (see README, Reliability).
chaos: deps
	@$(MAKE) --no-print-directory all $(DEMO) $(filter $(BUILD)/tests/test_chaos_%,$(E2E_TESTS))
	@sh tests/docker-up.sh
	@rm -f $(BUILD)/chaos-report.md
	@BUILD=$(BUILD) BERTH_CHAOS_LEVEL=full BERTH_CHAOS_REPORT=$(BUILD)/chaos-report.md \
	    TEST_TIMEOUT=900 sh tests/run.sh $(filter $(BUILD)/tests/test_chaos_%,$(E2E_TESTS))

# The sample configuration `make install` puts in place, from berthd's own --help.
$(BUILD)/berthd.conf: $(BERTHD) server/daemon/sample-config.sh
	sh server/daemon/sample-config.sh $(BERTHD) > $@.tmp && mv $@.tmp $@

# --- install ------------------------------------------------------------------
# Every path is a knob; DESTDIR stages the tree (packaging, tests). The
# Python client goes to a directory of berth's own, put on PYTHONPATH.
DESTDIR  ?=
BINDIR   ?= $(PREFIX)/bin
SBINDIR  ?= $(PREFIX)/sbin
LIBDIR   ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR  ?= $(PREFIX)/share
MANDIR   ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
PYTHONDIR ?= $(DATADIR)/berth/python
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
SYSCONFDIR ?= /etc
INSTALL  ?= install

# berth.pc: paths under PREFIX stay relative to ${prefix}.
PC_SED = -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
         -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
         -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|'
MIGRATIONS := $(sort $(wildcard migrations/*.sql))
D := $(DESTDIR)
# Directories only berth puts files in, deepest first: uninstall removes
# them when empty.
OWN_DIRS := $(INCLUDEDIR)/berth/berth/v1 $(INCLUDEDIR)/berth/berth $(INCLUDEDIR)/berth \
            $(PYTHONDIR)/berth/v1 $(PYTHONDIR)/berth $(DATADIR)/berth/python \
            $(DATADIR)/berth/proto/berth/v1 $(DATADIR)/berth/proto/berth $(DATADIR)/berth/proto \
            $(DATADIR)/berth/migrations $(DATADIR)/berth/examples $(DATADIR)/berth

.PHONY: python install uninstall
install: all $(PY_GEN)
	$(INSTALL) -d $(D)$(BINDIR) $(D)$(SBINDIR) $(D)$(LIBDIR) $(D)$(PKGCONFIGDIR) \
	    $(D)$(INCLUDEDIR)/berth/berth/v1 $(D)$(DATADIR)/berth/proto/berth/v1 \
	    $(D)$(DATADIR)/berth/migrations $(D)$(DATADIR)/berth/examples \
	    $(D)$(MANDIR)/man1 $(D)$(MANDIR)/man8 $(D)$(SYSTEMDUNITDIR) $(D)$(PYTHONDIR)/berth/v1 \
	    $(D)$(BASHCOMPDIR)
	$(INSTALL) -m 755 $(BERTHD) $(D)$(SBINDIR)/berthd
	$(INSTALL) -m 755 $(BERTH) $(D)$(BINDIR)/berth
	$(INSTALL) -m 644 $(LIBA) $(D)$(LIBDIR)/libberth.a
	$(INSTALL) -m 755 $(LIBSO) $(D)$(LIBDIR)/libberth.so.$(VERSION)
	ln -sf libberth.so.$(VERSION) $(D)$(LIBDIR)/libberth.so.$(SOVERSION)
	ln -sf libberth.so.$(SOVERSION) $(D)$(LIBDIR)/libberth.so
	sed $(PC_SED) client/berth.pc.in > $(D)$(PKGCONFIGDIR)/berth.pc
	$(INSTALL) -m 644 client/berth.h $(D)$(INCLUDEDIR)/berth/berth.h
	$(INSTALL) -m 644 $(GEN_HDR) $(D)$(INCLUDEDIR)/berth/berth/v1/berth.pb-c.h
	$(INSTALL) -m 644 proto/berth/v1/berth.proto $(D)$(DATADIR)/berth/proto/berth/v1/berth.proto
	$(INSTALL) -m 644 $(OPENAPI_JSON) $(D)$(DATADIR)/berth/openapi.json
	$(INSTALL) -m 644 $(MIGRATIONS) $(D)$(DATADIR)/berth/migrations/
	$(INSTALL) -m 644 client/python/berth_client.py $(D)$(PYTHONDIR)/berth_client.py
	$(INSTALL) -m 644 $(PY_GEN) $(D)$(PYTHONDIR)/berth/v1/berth_pb2.py
	$(INSTALL) -m 755 client/python/example.py $(D)$(DATADIR)/berth/examples/example.py
	$(INSTALL) -m 755 tests/e2e/nngcat_health.sh $(D)$(DATADIR)/berth/examples/nngcat_health.sh
	$(INSTALL) -m 644 client/cli/examples/berth.yaml $(D)$(DATADIR)/berth/examples/berth.yaml
	sed -e 's|@VERSION@|$(VERSION)|' server/daemon/berthd.8 > $(D)$(MANDIR)/man8/berthd.8
	sed -e 's|@VERSION@|$(VERSION)|' client/cli/berth.1 > $(D)$(MANDIR)/man1/berth.1
	sed -e 's|@SBINDIR@|$(SBINDIR)|' server/daemon/berthd.service > $(D)$(SYSTEMDUNITDIR)/berthd.service
	$(INSTALL) -m 644 client/cli/berth.bash-completion $(D)$(BASHCOMPDIR)/berth
	@# The operator's own file is never replaced (nor removed by uninstall).
	$(INSTALL) -d $(D)$(SYSCONFDIR)/berth
	test -e $(D)$(SYSCONFDIR)/berth/berthd.conf || \
	    $(INSTALL) -m 644 $(BUILD)/berthd.conf $(D)$(SYSCONFDIR)/berth/berthd.conf

# Removes exactly the files install puts (and Python's caches of them).
uninstall:
	rm -f $(D)$(SBINDIR)/berthd $(D)$(BINDIR)/berth \
	    $(D)$(LIBDIR)/libberth.a $(D)$(LIBDIR)/libberth.so.$(VERSION) \
	    $(D)$(LIBDIR)/libberth.so.$(SOVERSION) $(D)$(LIBDIR)/libberth.so \
	    $(D)$(PKGCONFIGDIR)/berth.pc \
	    $(D)$(INCLUDEDIR)/berth/berth.h $(D)$(INCLUDEDIR)/berth/berth/v1/berth.pb-c.h \
	    $(D)$(DATADIR)/berth/proto/berth/v1/berth.proto $(D)$(DATADIR)/berth/openapi.json \
	    $(addprefix $(D)$(DATADIR)/berth/migrations/,$(notdir $(MIGRATIONS))) \
	    $(D)$(PYTHONDIR)/berth_client.py $(D)$(PYTHONDIR)/berth/v1/berth_pb2.py \
	    $(D)$(DATADIR)/berth/examples/example.py $(D)$(DATADIR)/berth/examples/nngcat_health.sh \
	    $(D)$(DATADIR)/berth/examples/berth.yaml \
	    $(D)$(MANDIR)/man8/berthd.8 $(D)$(MANDIR)/man1/berth.1 \
	    $(D)$(SYSTEMDUNITDIR)/berthd.service $(D)$(BASHCOMPDIR)/berth
	rm -rf $(D)$(PYTHONDIR)/__pycache__ $(D)$(PYTHONDIR)/berth/v1/__pycache__
	@for d in $(addprefix $(D),$(OWN_DIRS)); do rmdir "$$d" 2>/dev/null || true; done

format:
	clang-format -i $(wildcard common/*.[ch] server/*/*.[ch] client/*.[ch] client/cli/*.[ch] tests/*/*.[ch])

clean:
	rm -rf $(BUILD) build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
