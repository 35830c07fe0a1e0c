# tether build. `make` builds build/tether; `make test` runs the whole suite
# twice (plain, then ASan+UBSan); `make bench`, `make lint`, `make run`.
# Every source file under src/ is picked up by wildcard: adding a file needs
# no Makefile change.

SAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build-asan
OPT   := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN := -fsanitize=address,undefined
else
BUILD ?= build
OPT   := -O2 -g
LDSAN :=
endif

CC      ?= gcc
CXX     ?= g++
PKGS    := libevent libevent_openssl libevent_pthreads openssl libcjson libfyaml libxxhash libcurl sqlite3 libpcre2-8 hiredis libpq
# Read on first use, not when the Makefile is parsed: on a fresh machine the
# packages are installed by the deps-quiet step that every object waits for,
# after parsing (a `:=` here gave empty flags and a failed first build).
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes -pthread \
           $(OPT) -Isrc -MMD -MP $(PKG_CFLAGS) -D_GNU_SOURCE
CXXFLAGS += -std=gnu++17 -Wall -Wextra $(OPT) -Isrc -MMD -MP
LDLIBS  = $(PKG_LIBS) -lhttp_parser -lcld2 -lutf8proc -lstemmer -lhs -lstdc++ -lm -lpthread
LDFLAGS += $(LDSAN) -pthread

LIB_C   := $(shell find src -name '*.c' ! -path 'src/cli/*' | sort)
LIB_CC  := $(shell find src -name '*.cc' | sort)
CLI_C   := $(shell find src/cli -name '*.c' | sort)
# The dashboard (dashboard/src plus the npm packages pinned by
# dashboard/package-lock.json) is bundled into $(BUILD)/dashboard by
# `make dashboard` (scripts/dashboard.sh: npm ci, esbuild, size budget) and
# embedded into libtether as one generated C file (scripts/embed-assets.sh;
# src/admin/dashboard.c serves it).
DASH_FILES := $(shell find dashboard/src -type f ! -name '.*' 2>/dev/null | sort) \
              dashboard/package.json dashboard/package-lock.json dashboard/build.mjs
DASH_OUT := $(BUILD)/dashboard
DASH_GEN := $(BUILD)/gen/dashboard_assets.c
DASH_OBJ := $(BUILD)/obj/gen/dashboard_assets.o
LIB_OBJ := $(LIB_C:%.c=$(BUILD)/obj/%.o) $(LIB_CC:%.cc=$(BUILD)/obj/%.o) $(DASH_OBJ)
CLI_OBJ := $(CLI_C:%.c=$(BUILD)/obj/%.o)
LIB     := $(BUILD)/libtether.a
BIN     := $(BUILD)/tether

SUPPORT_C   := $(shell find tests/support -name '*.c' 2>/dev/null | sort)
SUPPORT_OBJ := $(SUPPORT_C:%.c=$(BUILD)/obj/%.o)
TEST_C      := $(shell find tests/unit tests/integration -name 'test_*.c' 2>/dev/null | sort)
TEST_BIN    := $(TEST_C:%.c=$(BUILD)/%)
BENCH_C     := $(shell find tests/bench -name 'bench_*.c' 2>/dev/null | sort)
BENCH_BIN   := $(BENCH_C:%.c=$(BUILD)/%)

.PHONY: all deps dashboard test check tests-built test-plain test-asan bench lint run clean fuzz soak
all: deps-quiet $(BIN)

deps:
	@./scripts/deps.sh
deps-quiet:
	@./scripts/deps.sh
# Nothing compiles before the packages are there (also under make -j).
$(LIB_OBJ) $(CLI_OBJ) $(SUPPORT_OBJ): | deps-quiet

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

dashboard: $(DASH_OUT)/.built
$(DASH_OUT)/.built: $(DASH_FILES) scripts/dashboard.sh | deps-quiet
	@./scripts/dashboard.sh $(DASH_OUT)
	@touch $@
$(DASH_GEN): $(DASH_OUT)/.built scripts/embed-assets.sh
	@./scripts/embed-assets.sh $(DASH_OUT) $@
$(DASH_OBJ): $(DASH_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/support -o $@ $< $(SUPPORT_OBJ) $(LIB) $(LDFLAGS) $(LDLIBS) -lcmocka

# Build everything a test run needs, then run the suite in one build dir.
check: tests-built
	@./scripts/run-tests.sh $(BUILD)
tests-built: $(BIN) $(TEST_BIN)

test-plain: deps
	@$(MAKE) --no-print-directory check SAN=0
test-asan: deps
	@$(MAKE) --no-print-directory check SAN=1

test: deps
	@./scripts/test-all.sh

bench: deps $(BIN) $(BENCH_BIN)
	@./scripts/bench.sh

lint: deps
	@clang-format --dry-run --Werror $$(find src tests -name '*.[ch]' -o -name '*.cc')
	@./scripts/layers.sh
	@cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --suppress=missingIncludeSystem --inline-suppr --library=scripts/cppcheck-cjson.cfg -Isrc src

run: deps $(BIN)
	@./scripts/quickstart.sh $(BIN)

fuzz: deps
	@./scripts/fuzz.sh long

# SOAK_SECONDS=N (default 600); TETHER_BIN=build-asan/tether for a sanitized run
soak: all
	@./scripts/soak.sh

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
