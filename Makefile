# Thin wrapper around CMake. The two promised commands:
#   make run   - install what is missing, build, start ferryd (embedded default)
#   make test  - the same set-up, then every test (unit, integration, fuzz smoke)
JOBS ?= $(shell nproc)
# Where `make install` and the package put ferry: /usr/sbin, /etc/ferry,
# /var/spool/ferry (dist/CMakeLists.txt). The programs' default
# configuration file follows it, so it is set for the test build too.
PREFIX ?= /usr
FUZZ_SECONDS ?= 20

.PHONY: all setup build build-test run test unit fuzz fuzz-smoke bench bench-delivery clean install deb

all: build

setup:
	@bash scripts/setup.sh

build: setup
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_TESTS=OFF -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build build/release -j$(JOBS)

build-test: setup
	cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=ON -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build build/test -j$(JOBS)

run: build
	./build/release/ferryd

# Programs in $(PREFIX)/sbin, /etc/ferry/ferry.conf (an existing one is
# kept), the man pages and ferryd.service; DESTDIR=... stages elsewhere.
# See docs/operations.md, "Installing".
install: build
	cmake --install build/release

# The Debian package ferry_VERSION_ARCH.deb in build/release, always with
# the prefix /usr (the paths compiled into it and its unit follow it).
deb: setup
	$(MAKE) --no-print-directory build PREFIX=/usr
	cd build/release && cpack -G DEB

# The release build too: it is what `make run` and the benchmarks use, and
# -O2 enables warnings (format truncation) a debug build does not see.
test: build-test build
	cd build/test && ctest --output-on-failure -j$(JOBS)
	$(MAKE) --no-print-directory fuzz-smoke

fuzz: setup
	CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DFERRY_FUZZ=ON -DFERRY_TESTS=OFF -DFERRY_SANITIZE=ON >/dev/null
	cmake --build build/fuzz -j$(JOBS)
	@for t in build/fuzz/fuzz_*; do \
	  [ -x "$$t" ] || continue; n=$$(basename $$t); mkdir -p build/fuzz/corpus/$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 -artifact_prefix=build/fuzz/ build/fuzz/corpus/$$n fuzz/corpus/$$n 2>build/fuzz/$$n.log \
	    || { tail -50 build/fuzz/$$n.log; exit 1; }; \
	done

# CI runs each fuzz target briefly.
fuzz-smoke:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

# Benchmarks (root, loopback only): accept rate, then relay throughput,
# each against a throwaway Postfix in the same run. See bench/README.md.
bench: build
	bash bench/accept.sh
	bash bench/relay.sh
	bash bench/tenant.sh

# Delivery benchmarks (root, loopback only; about 17 minutes), each against
# a throwaway Postfix in the same run: a receiver answering after 1 s,
# head-of-line blocking behind a 30-second receiver, and an unreliable
# receiver with a per-message account.
bench-delivery: build
	bash bench/latency.sh
	bash bench/hol.sh
	bash bench/smartsink.sh

clean:
	rm -rf build
