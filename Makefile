# sluice — one GNU Makefile, no configure step. `make help` lists targets.
CC      ?= cc
BUILD   ?= build
PYTHON  ?= /usr/bin/python3
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
LLHTTP_SRC ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp
IMAGE   ?= $(BUILD)/sluice-image.tar
# The image's org.opencontainers.image.source label (left out when empty).
IMAGE_SOURCE ?= $(shell git config --get remote.origin.url 2>/dev/null)

WARN    = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wpointer-arith -Wformat=2 -Wimplicit-fallthrough
CFLAGS  ?= -O2 -g
XCFLAGS = -std=c17 -D_GNU_SOURCE -DLLHTTP_STRICT_MODE=1 -fno-common $(WARN) -I$(LLHTTP_INC) -MMD -MP
LDLIBS  = -lcares -lcrypt -lssl -lcrypto -lseccomp -lpthread
SAN     =

ifeq ($(V),1)
Q =
else
Q = @
endif

SRCS := $(wildcard src/*.c)
OBJS := $(SRCS:src/%.c=$(BUILD)/%.o)
LLHTTP_OBJS := $(BUILD)/llhttp/llhttp.o $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o

# Unit tests: each links its module and only what that module needs.
UNIT_TESTS := host addr pattern htpasswd hosts config url http rewrite proxyurl b64 accesslog \
              redact policy strmap ev basic txn request dial sni window status reason proxyproto pool
UNIT_DEPS_host     = host
UNIT_DEPS_addr     = addr
UNIT_DEPS_pattern  = pattern host strmap
UNIT_DEPS_htpasswd = htpasswd strmap
UNIT_DEPS_hosts    = hosts host strmap
UNIT_DEPS_config   = config addr host hosts htpasswd pattern strmap log tls xport
UNIT_DEPS_url      = url host
UNIT_DEPS_http     = http $(UNIT_LLHTTP)
UNIT_DEPS_rewrite  = rewrite http url host buf $(UNIT_LLHTTP)
UNIT_DEPS_proxyurl = proxyurl
UNIT_DEPS_b64      = b64
UNIT_DEPS_accesslog = accesslog ev log utf8
UNIT_DEPS_redact   = redact
UNIT_DEPS_policy   = policy reason config addr host hosts htpasswd pattern strmap log tls xport sni
UNIT_DEPS_strmap   = strmap
UNIT_DEPS_ev       = ev
UNIT_DEPS_basic    = basic b64
UNIT_DEPS_txn      = txn reason
UNIT_DEPS_request  = request redact http url host $(UNIT_LLHTTP)
UNIT_DEPS_dial     = dial policy reason config addr host hosts htpasswd pattern strmap log tls xport sni
UNIT_DEPS_sni      = sni
UNIT_DEPS_window   = window strmap
UNIT_DEPS_status   = status buf utf8
UNIT_DEPS_reason   = reason
UNIT_DEPS_proxyproto = proxyproto
UNIT_DEPS_pool     = pool
# llhttp objects by their path under $(BUILD), for UNIT_DEPS_*.
UNIT_LLHTTP        = llhttp/llhttp llhttp/api llhttp/http
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/test_%)

.PHONY: all binary deps deps-test deps-run deps-bench deps-fuzz deps-deploy run demo test unit \
	unit-run integration integration-run integration-unprivileged \
	integration-unprivileged-run asan clean help fuzz bench install uninstall \
	image image-build test-deploy test-deploy-run

# Two phases. The targets a user types first install what is missing from
# Debian ($(DEPS)), then build in a fresh $(MAKE): make reads a directory
# once and remembers it, so a single run that installs node-llhttp would go
# on believing /usr/share/llhttp empty and find no rule for its objects.
# The phase-two targets (binary, unit-run, integration-run) assume the
# packages are there.
DEPS    ?= scripts/deps.sh
SUBMAKE  = $(MAKE) --no-print-directory

all: deps
	$(Q)$(SUBMAKE) binary

binary: $(BUILD)/sluice
	@:

help:
	@echo "make            build $(BUILD)/sluice (installs missing Debian packages)"
	@echo "make run        build and serve examples/sluice.conf on 127.0.0.1:3128"
	@echo "make demo       sluice run end to end, offline: allowed, refused, audit log"
	@echo "make test       unit tests (cmocka) and integration tests (pytest), then (as root)"
	@echo "                the unprivileged selection again as the user sluice-test"
	@echo "make integration-unprivileged   only that unprivileged pass (as root)"
	@echo "make image      the OCI image $(IMAGE), FROM scratch, with buildah"
	@echo "make test-deploy   tests/deploy: the image run as a runtime would (as root;"
	@echo "                make test runs it too when buildah is installed or installable)"
	@echo "make asan       the whole suite under AddressSanitizer + UBSan"
	@echo "make bench      sluice vs Squid, tinyproxy, direct, HAProxy tcp: bench/RESULTS.md (~11 min)"
	@echo "make fuzz       every parser's libFuzzer harness, FUZZ_SECONDS each (default 30)"
	@echo "make install    install binary, man pages, systemd unit, logrotate, /etc/sluice (PREFIX, DESTDIR)"
	@echo "make clean      remove build outputs"

deps:
	$(Q)$(DEPS) build

deps-test:
	$(Q)$(DEPS) test

deps-run:
	$(Q)$(DEPS) run

deps-bench:
	$(Q)$(DEPS) bench

deps-fuzz:
	$(Q)$(DEPS) fuzz

deps-deploy:
	$(Q)$(DEPS) deploy

$(BUILD)/sluice: $(OBJS) $(LLHTTP_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: src/%.c | $(BUILD)
	@echo "  CC      $@"
	$(Q)$(CC) $(XCFLAGS) $(CFLAGS) $(SAN) -c -o $@ $<

# llhttp is generated C from the node-llhttp package: compiled as shipped,
# without our warning set.
$(BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c | $(BUILD)
	@mkdir -p $(BUILD)/llhttp
	@echo "  CC      $@"
	$(Q)$(CC) -std=c17 -O2 -g -DLLHTTP_STRICT_MODE=1 -I$(LLHTTP_INC) $(SAN) -c -o $@ $<

$(BUILD):
	@mkdir -p $(BUILD) $(BUILD)/tests

.SECONDEXPANSION:
$(BUILD)/tests/test_%: tests/unit/test_%.c $$(addprefix $(BUILD)/,$$(addsuffix .o,$$(UNIT_DEPS_$$*))) | $(BUILD)
	@echo "  LD      $@"
	$(Q)$(CC) $(XCFLAGS) $(CFLAGS) $(SAN) -Isrc -o $@ $(filter %.c %.o,$^) -lcmocka $(LDLIBS)

unit: deps-test
	$(Q)$(SUBMAKE) unit-run

unit-run: $(UNIT_BINS)
	$(Q)for t in $(UNIT_BINS); do echo "  UNIT    $$t"; $$t || exit 1; done

integration: deps-test
	$(Q)$(SUBMAKE) integration-run

integration-run: $(BUILD)/sluice
	$(Q)SLUICE_BIN=$(abspath $(BUILD)/sluice) $(PYTHON) -m pytest -q tests/integration

# The integration tests again as an ordinary user (scripts/test-unprivileged.sh: the user
# sluice-test, created when missing, on a copy of the tree), so that what breaks when sluice
# is not root shows up in CI. Tests that need root skip themselves. Not the whole suite
# (that takes about 4 minutes unprivileged): the files where the user's rights matter
# (serving, auth files, reload, signals, logs, check, and sluice run, whose sandbox maps an
# ordinary user differently from root), without the slow marker: about a minute and a half.
# UNPRIVILEGED_PYTEST=tests/integration runs everything.
# As an ordinary user `make test` is unprivileged already, and this pass is left out.
UNPRIVILEGED_TESTS ?= test_connect.py test_auth.py test_policy.py test_cli.py \
	test_ops_reload.py test_ops_signals.py test_ops_log.py test_ops_credentials.py \
	test_ops_accesslog.py test_run_process.py test_run_confinement.py test_run_escape.py \
	test_run_upstream.py test_tls_squid.py test_run_terminal.py test_tunnel.py \
	test_admin.py test_probe.py
UNPRIVILEGED_PYTEST ?= -m "not slow" $(addprefix tests/integration/,$(UNPRIVILEGED_TESTS))

integration-unprivileged: deps-test
	$(Q)$(SUBMAKE) integration-unprivileged-run

integration-unprivileged-run: $(BUILD)/sluice
	$(Q)if [ "$$(id -u)" = 0 ]; then \
	    PYTHON=$(PYTHON) scripts/test-unprivileged.sh $(BUILD) $(UNPRIVILEGED_PYTEST); \
	else \
	    echo "  SKIP    the unprivileged pass: not root, so the integration tests already ran unprivileged"; \
	fi

# tests/deploy (tests/deploy/README.md) builds the image with buildah and runs it in
# namespaces of its own: as root, when buildah is installed or apt-get can install it
# (on Debian 12 it can, so in practice always). About 10 seconds.
DEPLOY_TESTABLE = [ "$$(id -u)" = 0 ] && { command -v buildah >/dev/null 2>&1 || \
	apt-cache show buildah >/dev/null 2>&1; }

test: deps-test
	$(Q)$(SUBMAKE) binary shape unit-run integration-run integration-unprivileged-run
	$(Q)if $(DEPLOY_TESTABLE); then \
	    $(SUBMAKE) test-deploy; \
	else \
	    echo "  SKIP    tests/deploy: needs root and buildah (apt-get install buildah)"; \
	fi

# The shape doc/architecture.md promises: no include cycle among src/'s
# modules, every function on one screen.
shape:
	$(Q)$(PYTHON) scripts/shape.py src

# The OCI image (scripts/image.sh): FROM scratch with buildah, no daemon, nothing pulled;
# buildah's storage is its own under $(BUILD)/buildah and is removed afterwards.
image: deps-deploy
	$(Q)$(SUBMAKE) image-build

image-build: $(IMAGE)
	@:

$(IMAGE): $(BUILD)/sluice scripts/image.sh $(wildcard contrib/image/*)
	$(Q)BUILD=$(BUILD) IMAGE_SOURCE='$(IMAGE_SOURCE)' scripts/image.sh $(BUILD)/sluice $@

# Every test under tests/deploy, against the image just built.
test-deploy: deps-deploy
	$(Q)$(SUBMAKE) test-deploy-run

test-deploy-run: $(IMAGE)
	$(Q)SLUICE_IMAGE=$(abspath $(IMAGE)) SLUICE_BIN=$(abspath $(BUILD)/sluice) \
	    $(PYTHON) -m pytest -q tests/deploy

asan:
	$(Q)$(MAKE) BUILD=build-asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" CFLAGS="-O1 -g" test

demo: deps-run
	$(Q)$(SUBMAKE) binary
	$(Q)scripts/demo.sh $(BUILD)/sluice

run: deps-run
	$(Q)$(SUBMAKE) binary
	$(Q)scripts/run-demo.sh $(BUILD)/sluice

# The benchmark (bench/README.md): its own load generator and target, peers
# installed from Debian, results as ratios in bench/RESULTS.md.
BENCH_BINS := $(BUILD)/bench/loadgen $(BUILD)/bench/target
# loadgen speaks TLS to the proxy (-S) with OpenSSL.
BENCH_LDLIBS_loadgen = -lssl -lcrypto

$(BUILD)/bench/%: bench/%.c | $(BUILD)
	@mkdir -p $(BUILD)/bench
	@echo "  CC      $@"
	$(Q)$(CC) $(XCFLAGS) $(CFLAGS) -o $@ $< $(BENCH_LDLIBS_$*)

bench: deps-bench
	$(Q)$(SUBMAKE) binary $(BENCH_BINS)
	$(Q)$(PYTHON) bench/bench.py --sluice $(abspath $(BUILD)/sluice) --bin $(abspath $(BUILD)/bench)

# Fuzzing (fuzz/README.md): clang's libFuzzer with ASan and UBSan.
FUZZ_SECONDS ?= 30
fuzz: deps-fuzz
	$(Q)fuzz/run.sh $(FUZZ_SECONDS)

# `make && sudo make install`; DESTDIR stages for packaging. Depends on the
# binary, not on `all`, so that it never runs apt-get under sudo.
install: $(BUILD)/sluice
	install -D -m 0755 $(BUILD)/sluice $(DESTDIR)$(BINDIR)/sluice
	install -D -m 0644 man/sluice.1 $(DESTDIR)$(MANDIR)/man1/sluice.1
	install -D -m 0644 man/sluice.conf.5 $(DESTDIR)$(MANDIR)/man5/sluice.conf.5
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/bin/sluice|$(BINDIR)/sluice|g' contrib/sluice.service > $(DESTDIR)$(UNITDIR)/sluice.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/sluice.service
	install -D -m 0644 contrib/logrotate.d/sluice $(DESTDIR)$(SYSCONFDIR)/logrotate.d/sluice
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/sluice
	@# An operator's configuration is never overwritten.
	@for f in sluice.conf allow.txt; do \
	    if [ -e $(DESTDIR)$(SYSCONFDIR)/sluice/$$f ]; then \
	        echo "  kept $(SYSCONFDIR)/sluice/$$f"; \
	    else \
	        install -m 0644 examples/$$f $(DESTDIR)$(SYSCONFDIR)/sluice/$$f && \
	        echo "  installed $(SYSCONFDIR)/sluice/$$f"; \
	    fi; \
	done
	@[ -e $(DESTDIR)$(SYSCONFDIR)/sluice/users.htpasswd ] || { \
	    echo "Next: create the users file and check the configuration:"; \
	    echo "  htpasswd -B -c $(SYSCONFDIR)/sluice/users.htpasswd agent"; \
	    echo "  chgrp sluice $(SYSCONFDIR)/sluice/users.htpasswd; chmod 0640 $(SYSCONFDIR)/sluice/users.htpasswd"; \
	    echo "  sluice check -c $(SYSCONFDIR)/sluice/sluice.conf"; }

# The configuration in $(SYSCONFDIR)/sluice is the operator's: it stays.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sluice $(DESTDIR)$(MANDIR)/man1/sluice.1 \
	    $(DESTDIR)$(MANDIR)/man5/sluice.conf.5 $(DESTDIR)$(UNITDIR)/sluice.service \
	    $(DESTDIR)$(SYSCONFDIR)/logrotate.d/sluice

clean:
	rm -rf build build-asan build-dev

-include $(OBJS:.o=.d)
# A unit test is rebuilt when a header it includes changes (tests/unit/sni_hellos.h
# is generated, for one).
-include $(UNIT_BINS:=.d)
