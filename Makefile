# IoTFlow — build, test, run, install.
#   make                 build every program into bin/
#   make check           install missing packages (root) or name them, build, run every test
#   make run             start a local platform under ./var (PostgreSQL, Redis, Mosquitto, daemons)
#   make install PREFIX=/usr DESTDIR=/tmp/pkg
#   make SANITIZE=1      build with AddressSanitizer + UndefinedBehaviorSanitizer
#   make WERROR=1        warnings are errors (CI does this)
#   make fuzz            run the fuzz targets (record decoder, HTTP requests) for a bounded time
#   make bench           the benchmarks of bench/, side by side with their anchors

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
SQLDIR     ?= $(DATADIR)/iotflow/sql
WEBDIR     ?= $(DATADIR)/iotflow/web
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
PKG_CONFIG ?= pkg-config

VERSION    := 0.1.0
# Every library a program may link; each program names what it uses below,
# so no binary carries a library it never calls.
PKGS       := libpq hiredis libmosquitto jansson libsodium libmicrohttpd libsystemd zlib
CORE_PKGS  := libpq hiredis jansson libsodium
# PROGRAM_PKGS: what a program needs beyond CORE_PKGS, as NAME_PKGS.
iot-httpd_PKGS := libmicrohttpd libsystemd libmosquitto
iot-device_PKGS := libmosquitto
# Retention writes its archives through zlib (gzip).
iot-migrate_PKGS := zlib
iot-mqtt-listen_PKGS := libmosquitto libsystemd libmicrohttpd

CC         ?= cc
CFLAGS     ?= -O2 -g
WARNFLAGS  := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wformat=2 -Wno-format-nonliteral -Wvla -Wpointer-arith
ifeq ($(WERROR),1)
WARNFLAGS  += -Werror
endif
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ifneq ($(SANITIZE),)
SANFLAGS   := $(SAN_FLAGS)
FLAVOUR    := san
else
FLAVOUR    := rel
endif

# pkg-config one package at a time, so one missing package does not hide the others' flags.
pkg_cflags = $(foreach p,$(1),$(shell $(PKG_CONFIG) --cflags $(p) 2>/dev/null))
pkg_libs   = $(foreach p,$(1),$(shell $(PKG_CONFIG) --libs $(p) 2>/dev/null))
PKG_CFLAGS := $(call pkg_cflags,$(PKGS))
ALL_CPPFLAGS := -D_GNU_SOURCE -Ilib -DIOT_VERSION='"$(VERSION)"' \
                -DIOT_SQLDIR='"$(SQLDIR)"' -DIOT_WEBDIR='"$(WEBDIR)"' -DIOT_SYSCONFDIR='"$(SYSCONFDIR)"' $(CPPFLAGS)
ALL_CFLAGS := $(WARNFLAGS) $(SANFLAGS) $(CFLAGS) $(PKG_CFLAGS) -pthread -fPIC
ALL_LDFLAGS := $(SANFLAGS) $(LDFLAGS) -pthread
# What the objects depend on: -Werror changes no object, so `make run` after
# `make check` (WERROR=1) does not rebuild everything.
FLAGS_STAMP := $(CC) $(ALL_CPPFLAGS) $(filter-out -Werror,$(ALL_CFLAGS)) $(ALL_LDFLAGS)

# lib/ is in rooms (lib/README): libiotflow.a holds every room but cli/,
# which only programs link (libiotflow-cli.a). The broker plugin links the
# core alone.
O          := build/$(FLAVOUR)
ROOMS      := base pg cache auth registry telemetry query import mqtt chart http
LIB_SRC    := $(foreach r,$(ROOMS),$(wildcard lib/$(r)/*.c))
CLI_SRC    := $(wildcard lib/cli/*.c)
LIBA       := $(O)/libiotflow.a
CLIA       := $(O)/libiotflow-cli.a
# The telemetry record decoder and what it needs: its unit test and fuzz target.
DECODER_SRC := lib/telemetry/record.c lib/telemetry/record_mosquitto.c lib/telemetry/record_thingsboard.c lib/telemetry/record_device.c \
               lib/telemetry/record_text.c lib/auth/secret_format.c \
               lib/base/timestamp.c lib/base/json_util.c lib/base/error.c
# A program is cmd/iot-NAME.c, or a folder cmd/iot-NAME/ whose .c files make one program.
PROG_FILES := $(patsubst cmd/%.c,%,$(wildcard cmd/iot-*.c))
PROG_DIRS  := $(patsubst cmd/%/,%,$(wildcard cmd/iot-*/))
PROGS      := $(sort $(PROG_FILES) $(PROG_DIRS))
BINS       := $(PROGS:%=bin/%)
# A broker plugin is a folder plugins/NAME/ whose .c files make bin/NAME.so.
PLUGIN_DIRS := $(patsubst plugins/%/,%,$(wildcard plugins/*/))
PLUGINS    := $(PLUGIN_DIRS:%=bin/%.so)
MANPAGES   := $(wildcard man/*.1 man/*.7 man/*.8)
# Test and benchmark programs: tests/c/NAME.c, bench/NAME.c -> build/tests/NAME,
# linked with the library of this build's flavour.
TEST_SRC   := $(wildcard tests/c/*.c bench/*.c)
TEST_BINS  := $(addprefix build/tests/,$(notdir $(TEST_SRC:.c=)))

.PHONY: all check run install install-data uninstall clean deps fuzz fuzz-build bench test-progs unit-test check-rooms
all: $(BINS) $(PLUGINS)

# Rebuild everything when the flags change (e.g. SANITIZE=1 after a plain build).
# Every package must be there before anything compiles: say which is missing
# (checked on every build: a package removed since shows at once).
$(O)/.flags: FORCE
	@mkdir -p $(@D)
	@missing=; for p in $(PKGS); do $(PKG_CONFIG) --exists $$p || missing="$$missing $$p"; done; \
	 if [ -n "$$missing" ]; then \
	   echo "Makefile: fatal: pkg-config cannot find:$$missing (run 'make deps', or scripts/deps.sh)" >&2; exit 1; fi
	@echo '$(FLAGS_STAMP)' | cmp -s - $@ || \
	 echo '$(FLAGS_STAMP)' > $@
FORCE:

$(O)/%.o: %.c $(O)/.flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# Objects are kept, not deleted as intermediates: a second `make` rebuilds nothing.
.PRECIOUS: $(O)/%.o

$(LIBA): $(LIB_SRC:%.c=$(O)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(CLIA): $(CLI_SRC:%.c=$(O)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

# bin/ and build/tests/ serve both flavours: relink them when the flavour
# changes (the other flavour's archive may be older than the binaries).
LINK_STAMP := build/.link-flavour
$(LINK_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(FLAVOUR)' | cmp -s - $@ || echo '$(FLAVOUR)' > $@

# The objects of program $(1): cmd/$(1).c or every cmd/$(1)/*.c.
prog_objs = $(patsubst %.c,$(O)/%.o,$(wildcard cmd/$(1).c cmd/$(1)/*.c))
.SECONDEXPANSION:
$(BINS): bin/%: $$(call prog_objs,$$*) $(CLIA) $(LIBA) $(LINK_STAMP)
	@mkdir -p bin
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(CLIA) $(LIBA) $(call pkg_libs,$(CORE_PKGS) $($*_PKGS)) -lm

build/tests/%: $$(addprefix $(O)/,$$(subst .c,.o,$$(wildcard tests/c/$$*.c bench/$$*.c))) $(CLIA) $(LIBA) $(LINK_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(CLIA) $(LIBA) $(call pkg_libs,$(CORE_PKGS) libmosquitto) -lm

test-progs: $(TEST_BINS)

# The broker plugin: the core library only, and only its entry points
# exported. No libmosquitto: the mosquitto_* calls are the broker's own.
plugin_objs = $(patsubst %.c,$(O)/%.o,$(wildcard plugins/$(1)/*.c))
bin/%.so: $$(call plugin_objs,$$*) $(LIBA) plugins/exports.map $(LINK_STAMP)
	@mkdir -p bin
	$(CC) $(ALL_LDFLAGS) -shared -Wl,--version-script=plugins/exports.map -o $@ $(filter %.o,$^) $(LIBA) \
	    $(call pkg_libs,$(CORE_PKGS)) -lm

# The decoder's unit test, always under ASan+UBSan (and an optimised twin for timing).
UNIT_FLAGS := -D_GNU_SOURCE -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wformat=2 -Wvla -Werror -pthread -Ilib
build/unit/test_record: tests/unit/test_record.c tests/unit/record_cases.h $(DECODER_SRC) $(wildcard lib/*/*.h) | $(O)/.flags
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SAN_FLAGS) $(UNIT_FLAGS) -o $@ tests/unit/test_record.c $(DECODER_SRC) \
	    $(call pkg_cflags,jansson) $(call pkg_libs,jansson) -lm
build/unit/test_record_bench: tests/unit/test_record.c tests/unit/record_cases.h $(DECODER_SRC) $(wildcard lib/*/*.h) | $(O)/.flags
	@mkdir -p $(@D)
	$(CC) -O2 -DNDEBUG $(UNIT_FLAGS) -o $@ tests/unit/test_record.c $(DECODER_SRC) \
	    $(call pkg_cflags,jansson) $(call pkg_libs,jansson) -lm
# iot-httpd's request parsing (lib/http/http_parse.c), likewise sanitized.
build/unit/test_http: tests/unit/test_http.c lib/http/http_parse.c lib/auth/secret_format.c lib/base/error.c $(wildcard lib/*/*.h) | $(O)/.flags
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SAN_FLAGS) $(UNIT_FLAGS) -o $@ tests/unit/test_http.c lib/http/http_parse.c lib/auth/secret_format.c lib/base/error.c \
	    $(PKG_CFLAGS)
# Histograms scraped while they are observed (lib/base/metrics.c), likewise.
build/unit/test_metrics: tests/unit/test_metrics.c lib/base/metrics.c lib/base/error.c $(wildcard lib/*/*.h) | $(O)/.flags
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SAN_FLAGS) $(UNIT_FLAGS) -o $@ tests/unit/test_metrics.c lib/base/metrics.c lib/base/error.c
# The device lookups' in-process tables (lib/auth/memo.c), likewise.
build/unit/test_memo: tests/unit/test_memo.c lib/auth/memo.c $(wildcard lib/*/*.h) | $(O)/.flags
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SAN_FLAGS) $(UNIT_FLAGS) -o $@ tests/unit/test_memo.c lib/auth/memo.c \
	    $(PKG_CFLAGS) $(call pkg_libs,libsodium)
unit-test: build/unit/test_record build/unit/test_http build/unit/test_metrics build/unit/test_memo

# The decoder's libFuzzer target (clang).
CLANG      ?= clang
build/fuzz/fuzz_record: tests/fuzz/fuzz_record.c $(DECODER_SRC) $(wildcard lib/*/*.h) | $(O)/.flags
	@mkdir -p $(@D)
	$(CLANG) -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -D_GNU_SOURCE -std=c11 -Wall -Wextra -Werror -Ilib \
	    -o $@ tests/fuzz/fuzz_record.c $(DECODER_SRC) $(call pkg_cflags,jansson) $(call pkg_libs,jansson) -lm
# The HTTP side's target: query strings, routes, content types, body records,
# device routes' body objects (secret_format.c comes with the decoder).
HTTP_PARSE_SRC := lib/http/http_parse.c lib/http/http_body.c lib/base/field_check.c
build/fuzz/fuzz_http: tests/fuzz/fuzz_http.c $(HTTP_PARSE_SRC) $(DECODER_SRC) $(wildcard lib/*/*.h) | $(O)/.flags
	@mkdir -p $(@D)
	$(CLANG) -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -D_GNU_SOURCE -std=c11 -Wall -Wextra -Werror -Ilib \
	    -o $@ tests/fuzz/fuzz_http.c $(HTTP_PARSE_SRC) $(DECODER_SRC) $(call pkg_cflags,jansson) \
	    $(call pkg_libs,jansson) -lm
fuzz-build: build/fuzz/fuzz_record build/fuzz/fuzz_http

# A room includes only rooms below it (lib/README); only cmd/ and tests include cli/.
check-rooms:
	@scripts/check-rooms.sh

-include $(shell find build -name '*.d' 2>/dev/null)

deps:
	@scripts/deps.sh

check: deps
	@scripts/check-rooms.sh
	@$(MAKE) --no-print-directory all test-progs unit-test WERROR=$(or $(WERROR),1)
	@tests/run

# Ctrl-C stops it cleanly with status 0: from a terminal, run.sh takes the
# terminal for a process group of its own, so make never sees the SIGINT.
run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run.sh

fuzz: fuzz-build
	@scripts/fuzz.sh

# Side-by-side measurements against the anchors (see bench/README.md).
bench: all test-progs
	@scripts/deps.sh --bench
	@bench/ingest
	@bench/ingest-wide
	@bench/auth.sh
	@bench/query
	@bench/http
	@bench/chart
	@bench/mqtt-connect
	@bench/mqtt

# The units and the contrib files that name installed paths are written for
# the default PREFIX; install puts this installation's paths in their place.
INSTALL_PATHS = -e 's\#/usr/local/bin\#$(BINDIR)\#g' -e 's\#/usr/local/lib/iotflow\#$(PREFIX)/lib/iotflow\#g' \
                -e 's\#/usr/local/etc\#$(SYSCONFDIR)\#g' -e 's\#/usr/local/share\#$(DATADIR)\#g'
INSTALL_PATHED = contrib/mosquitto/iotflow.conf contrib/grafana/provisioning/dashboards/iotflow.yml

# install-data is what install puts in place besides the programs and the
# plugin, without building anything.
install: all install-data
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)
	$(if $(PLUGINS),install -d $(DESTDIR)$(PREFIX)/lib/iotflow && install -m 755 $(PLUGINS) $(DESTDIR)$(PREFIX)/lib/iotflow)

install-data:
	install -d $(DESTDIR)$(SQLDIR) $(DESTDIR)$(MANDIR)/man1 \
	           $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
	           $(DESTDIR)$(DATADIR)/iotflow/contrib
	install -m 644 sql/*.sql $(DESTDIR)$(SQLDIR)
	install -d $(DESTDIR)$(WEBDIR)/vendor
	install -m 644 $(filter-out web/vendor,$(wildcard web/*)) $(DESTDIR)$(WEBDIR)
	install -m 644 $(wildcard web/vendor/*) $(DESTDIR)$(WEBDIR)/vendor
	$(if $(wildcard man/*.1),install -m 644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1)
	$(if $(wildcard man/*.7),install -m 644 $(wildcard man/*.7) $(DESTDIR)$(MANDIR)/man7)
	$(if $(wildcard man/*.8),install -m 644 $(wildcard man/*.8) $(DESTDIR)$(MANDIR)/man8)
	for f in $(wildcard systemd/*); do \
		sed $(INSTALL_PATHS) "$$f" > $(DESTDIR)$(UNITDIR)/$${f##*/} && chmod 644 $(DESTDIR)$(UNITDIR)/$${f##*/} || exit 1; \
	done
	$(if $(wildcard contrib/*),cp -R contrib/. $(DESTDIR)$(DATADIR)/iotflow/contrib)
	for f in $(INSTALL_PATHED); do \
		sed -i $(INSTALL_PATHS) $(DESTDIR)$(DATADIR)/iotflow/$$f || exit 1; \
	done

uninstall:
	rm -f $(PROGS:%=$(DESTDIR)$(BINDIR)/%)
	rm -rf $(DESTDIR)$(SQLDIR) $(DESTDIR)$(WEBDIR) $(DESTDIR)$(DATADIR)/iotflow $(DESTDIR)$(PREFIX)/lib/iotflow
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(wildcard man/*.1)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man7/,$(notdir $(wildcard man/*.7)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(wildcard man/*.8)))
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(wildcard systemd/*)))

clean:
	rm -rf build bin
