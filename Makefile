# IoTFlow — build, test, run, install.
#   make                 build every program into bin/
#   make check           install missing packages (root) or name them, build, run every test
#   make run             start a local platform under ./var (PostgreSQL, Redis, Mosquitto, daemons)
#   make install PREFIX=/usr DESTDIR=/tmp/pkg
#   make SANITIZE=1      build with AddressSanitizer + UndefinedBehaviorSanitizer
#   make WERROR=1        warnings are errors (CI does this)
#   make fuzz            run the record decoder's fuzz target for a bounded time
#   make bench           the benchmarks of bench/, side by side with their anchors

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
SQLDIR     ?= $(DATADIR)/iotflow/sql
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
PKG_CONFIG ?= pkg-config

VERSION    := 0.1.0
PKGS       := libpq hiredis libmosquitto jansson libsodium libmicrohttpd libsystemd

CC         ?= cc
CFLAGS     ?= -O2 -g
WARNFLAGS  := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wformat=2 -Wno-format-nonliteral -Wvla -Wpointer-arith
ifeq ($(WERROR),1)
WARNFLAGS  += -Werror
endif
ifneq ($(SANITIZE),)
SANFLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FLAVOUR    := san
else
FLAVOUR    := rel
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
ALL_CPPFLAGS := -D_GNU_SOURCE -Ilib -DIOT_VERSION='"$(VERSION)"' \
                -DIOT_SQLDIR='"$(SQLDIR)"' -DIOT_SYSCONFDIR='"$(SYSCONFDIR)"' $(CPPFLAGS)
ALL_CFLAGS := $(WARNFLAGS) $(SANFLAGS) $(CFLAGS) $(PKG_CFLAGS) -pthread -fPIC
ALL_LDFLAGS := $(SANFLAGS) $(LDFLAGS) -pthread
LIBS       := $(PKG_LIBS) -lm

O          := build/$(FLAVOUR)
LIB_SRC    := $(wildcard lib/*.c)
LIB_OBJ    := $(LIB_SRC:%.c=$(O)/%.o)
LIBA       := $(O)/libiotflow.a
# A program is cmd/iot-NAME.c, or a folder cmd/iot-NAME/ whose .c files make one program.
PROG_FILES := $(patsubst cmd/%.c,%,$(wildcard cmd/iot-*.c))
PROG_DIRS  := $(patsubst cmd/%/,%,$(wildcard cmd/iot-*/))
PROGS      := $(sort $(PROG_FILES) $(PROG_DIRS))
BINS       := $(PROGS:%=bin/%)
PLUGIN_SRC := $(wildcard plugins/*.c)
PLUGINS    := $(PLUGIN_SRC:plugins/%.c=bin/%.so)
MANPAGES   := $(wildcard man/*.1 man/*.7)
# Test programs: tests/c/NAME.c -> build/tests/NAME, linked with libiotflow.
TEST_SRC   := $(wildcard tests/c/*.c)
TEST_BINS  := $(TEST_SRC:tests/c/%.c=build/tests/%)

.PHONY: all check run install uninstall clean deps fuzz bench test-progs
all: $(BINS) $(PLUGINS)

# Rebuild everything when the flags change (e.g. SANITIZE=1 after a plain build).
$(O)/.flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS)' | cmp -s - $@ || \
	 echo '$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS)' > $@
FORCE:

$(O)/%.o: %.c $(O)/.flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# The objects of program $(1): cmd/$(1).c or every cmd/$(1)/*.c.
prog_objs = $(patsubst %.c,$(O)/%.o,$(wildcard cmd/$(1).c cmd/$(1)/*.c))
.SECONDEXPANSION:
bin/%: $$(call prog_objs,$$*) $(LIBA)
	@mkdir -p bin
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(LIBA) $(LIBS)

build/tests/%: $(O)/tests/c/%.o $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

test-progs: $(TEST_BINS)

bin/%.so: $(O)/plugins/%.o $(LIBA)
	@mkdir -p bin
	$(CC) $(ALL_LDFLAGS) -shared -o $@ $< $(LIBA) $(LIBS)

-include $(shell find build -name '*.d' 2>/dev/null)

deps:
	@scripts/deps.sh

check: deps
	@$(MAKE) --no-print-directory all test-progs WERROR=$(or $(WERROR),1)
	@tests/run

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run.sh

fuzz:
	@scripts/fuzz.sh

# Side-by-side measurements against the anchors (see bench/README.md).
bench: all
	@bench/ingest
	@bench/auth.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SQLDIR) $(DESTDIR)$(MANDIR)/man1 \
	           $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)/iotflow/contrib
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)
	$(if $(PLUGINS),install -d $(DESTDIR)$(PREFIX)/lib/iotflow && install -m 755 $(PLUGINS) $(DESTDIR)$(PREFIX)/lib/iotflow)
	install -m 644 sql/*.sql $(DESTDIR)$(SQLDIR)
	$(if $(wildcard man/*.1),install -m 644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1)
	$(if $(wildcard man/*.7),install -m 644 $(wildcard man/*.7) $(DESTDIR)$(MANDIR)/man7)
	$(if $(wildcard systemd/*),install -m 644 $(wildcard systemd/*) $(DESTDIR)$(UNITDIR))
	$(if $(wildcard contrib/*),cp -R contrib/. $(DESTDIR)$(DATADIR)/iotflow/contrib)

uninstall:
	rm -f $(PROGS:%=$(DESTDIR)$(BINDIR)/%)
	rm -rf $(DESTDIR)$(SQLDIR) $(DESTDIR)$(DATADIR)/iotflow $(DESTDIR)$(PREFIX)/lib/iotflow
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(wildcard man/*.1)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man7/,$(notdir $(wildcard man/*.7)))
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(wildcard systemd/*)))

clean:
	rm -rf build bin
