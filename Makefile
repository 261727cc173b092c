# meshlet build. `make` builds ./meshlet; `make test` installs what is missing,
# builds and runs every test; `make asan` does the same under ASan + UBSan.
# V=1 prints full commands.

PKGS     := libfyaml libpcre2-8 libxxhash openssl libnghttp2 libcares
CC       ?= cc
BUILD    ?= build
BIN      ?= meshlet
OPT      ?= -O2
SAN      ?=
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror \
               -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers \
               -Isrc -MMD -MP $(SAN)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null)
CFLAGS   := $(CFLAGS_BASE) $(PKG_CFLAGS)
LDLIBS   := $(PKG_LIBS) -lpthread -lm
PYTHON   := /usr/bin/python3

ifeq ($(V),1)
Q :=
else
Q := @
endif

SRC      := $(shell find src -name '*.c' | sort)
LIB_SRC  := $(filter-out src/main.c,$(SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/src/main.o
UNIT_SRC := $(shell find tests/unit -name 'test_*.c' | sort)
UNIT_BIN := $(UNIT_SRC:%.c=$(BUILD)/%)
HARNESS_OBJ := $(BUILD)/tests/unit/harness.o
# Unit tests route malloc/calloc/realloc of our objects through the harness, which can fail
# a chosen one (tests/unit/harness.h, allocation-failure injection).
UNIT_LDFLAGS := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

.PHONY: all deps test-deps test unit e2e asan tsan clean run bench help lint fmt fuzz fuzz-deps

# Keep test objects between runs (they are intermediate files of the test binaries).
.SECONDARY:

BACKEND := $(BUILD)/backend
# Test-only: rollout/scrape.h's figures for the e2e tests (tests/tools/rollout_probe.c).
PROBE := $(BUILD)/rollout-probe
# Test and bench tools for TCP and TLS passthrough (tests/tools/tcp_*.c), standalone.
TCP_TOOLS := $(BUILD)/tcp-backend $(BUILD)/tcp-load

all: $(BIN) $(BACKEND) $(PROBE) $(TCP_TOOLS)

$(BUILD)/tcp-%: $(BUILD)/tests/tools/tcp_%.o
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN) -o $@ $^ $(LDLIBS)

$(BACKEND): $(BUILD)/tests/backend/backend.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN) -o $@ $^ $(LDLIBS)

$(PROBE): $(BUILD)/tests/tools/rollout_probe.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN) -o $@ $^ $(LDLIBS)

help:
	@echo "make           build ./meshlet"
	@echo "make test      install missing packages, build, run unit and e2e tests"
	@echo "make asan      the same under ASan + UBSan"
	@echo "make tsan      the same under ThreadSanitizer"
	@echo "make run       install, build, start the demo canary (backends + meshlet)"
	@echo "make bench     config-load benchmark (bench/README.md)"
	@echo "make lint      clang-format check, house rules, layer rule"
	@echo "make fmt       apply clang-format"
	@echo "make fuzz      build and run the libFuzzer targets for a while (FUZZ_SECONDS)"
	@echo "make clean     remove build outputs"

# `make run` needs the build's packages; the tests also need their clients and promtool.
deps:
	$(Q)scripts/deps.sh

test-deps:
	$(Q)scripts/deps.sh --test

$(BIN): $(LIB_OBJ) $(MAIN_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(if $(findstring tests/unit,$<),$(CMOCKA_CFLAGS) -Itests/unit) -c -o $@ $<

# The dashboard page is assembled into its object (.incbin), which the compiler's
# dependency files do not list.
$(BUILD)/src/admin/dashboard.o: src/admin/dashboard.html

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(HARNESS_OBJ) $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN) $(UNIT_LDFLAGS) -o $@ $^ $(LDLIBS) $(CMOCKA_LIBS)

unit: $(UNIT_BIN)
	$(Q)fail=0; for t in $(UNIT_BIN); do \
	    MESHLET_SRCDIR=$(CURDIR) $$t >$$t.log 2>&1 || { fail=1; cat $$t.log; echo "FAIL $$t"; }; \
	    grep -E '^\[  (PASSED|FAILED)' $$t.log | sed "s|^|$$(basename $$t): |"; \
	done; exit $$fail

e2e: $(BIN)
	$(Q)MESHLET=$(CURDIR)/$(BIN) $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

test: test-deps
	$(Q)$(MAKE) --no-print-directory lint
	$(Q)$(MAKE) --no-print-directory all unit
	$(Q)$(MAKE) --no-print-directory e2e

FMT_FILES = $(shell find src tests/unit tests/backend tests/tools fuzz -name '*.[ch]' 2>/dev/null | sort)

lint:
	$(Q)clang-format --dry-run -Werror $(FMT_FILES)
	$(Q)scripts/checksrc.sh
	$(Q)scripts/check-layers.sh
	@echo "lint: clean"

fmt:
	$(Q)clang-format -i $(FMT_FILES)

asan: test-deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/meshlet OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    all unit e2e

# Data races between workers, the admin thread and the access-log writer (not in CI: it
# adds as much time again as asan).
tsan: test-deps
	$(Q)TSAN_OPTIONS=halt_on_error=1 $(MAKE) --no-print-directory BUILD=build/tsan \
	    BIN=build/tsan/meshlet OPT=-O1 SAN="-fsanitize=thread -fno-omit-frame-pointer" \
	    all unit e2e

run: deps all
	$(Q)scripts/demo.sh

FUZZ_SECONDS ?= 60
FUZZ_DIR := build/fuzz

FUZZ_TARGETS := config h1_parse h2 rollout
FUZZ_CC := clang -std=c11 -D_GNU_SOURCE -g -O1 -Isrc $(PKG_CFLAGS) \
           -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

# Each target is built from the sources themselves (no objects shared with the other builds).
fuzz-deps:
	$(Q)scripts/deps.sh --fuzz

$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c $(LIB_SRC) $(shell find src -name '*.h') | fuzz-deps
	@mkdir -p $(FUZZ_DIR)
	@echo "  FUZZ    $@"
	$(Q)$(FUZZ_CC) -o $@ $< $(LIB_SRC) $(LDLIBS)

fuzz: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
	$(Q)cd $(FUZZ_DIR) && mkdir -p corpus-config corpus-h1_parse corpus-h2 corpus-rollout && \
	    ./fuzz_config -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	        -dict=../../fuzz/yaml.dict corpus-config ../../fuzz/corpus/config && \
	    ./fuzz_h1_parse -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	        -dict=../../fuzz/http.dict corpus-h1_parse ../../fuzz/corpus/h1_parse && \
	    ./fuzz_h2 -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
	        -dict=../../fuzz/h2.dict corpus-h2 ../../fuzz/corpus/h2 && \
	    ./fuzz_rollout -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
	        -dict=../../fuzz/yaml.dict corpus-rollout ../../fuzz/corpus/rollout

bench: all
	$(Q)scripts/deps.sh --bench
	$(Q)bench/run.sh
	$(Q)bench/proxy.sh
	$(Q)bench/h2.sh
	$(Q)bench/routes.sh
	$(Q)bench/mtls.sh
	$(Q)bench/reload.sh
	$(Q)bench/fleet.sh
	$(Q)bench/tcp.sh

clean:
	rm -rf build $(BIN)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
