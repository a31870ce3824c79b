#!/usr/bin/env bash
# setup.sh - install the Debian packages ferry's build, tests and benchmarks
# need, only those missing. Safe to run again; does nothing when all are there.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev  # compilers, libFuzzer
  libevent-dev        # event loop, buffered sockets, TLS filter
  libssl-dev openssl  # TLS and certificates
  libsodium-dev       # argon2id password hashing
  libcmocka-dev       # unit tests
  libc-ares-dev       # DNS (MX, A, AAAA) for delivery
  libsqlite3-dev      # tenants, accounts, keys, domains, counters (embedded state)
  libpq-dev           # libpq: the state on PostgreSQL (state_db postgresql://...)
  postgresql-15       # the tests' throwaway PostgreSQL servers (tests/pgserver.sh), never the system one
  libgmime-3.0-dev    # RFC 5322 address parsing for the From: lockdown
  libjansson-dev      # JSON log lines (log_format json)
  libpcre2-dev        # PCRE2: the regular expressions of the shaping and bounce rules
  libspf2-dev         # SPF evaluation for `ferryctl domain check`
  unbound             # test DNS server serving test zones
  python3             # integration tests (Debian's /usr/bin/python3)
  swaks               # scripted SMTP client in tests
  python3-dkim        # an independent DKIM verifier for the signing tests
  opendkim            # `opendkim -t`: a second DKIM verifier (libopendkim) in the signing tests
  opendkim-tools      # opendkim-testmsg (needs Date:, and cannot be pointed at a test DNS server)
  libnet-ssleay-perl libio-socket-ssl-perl  # swaks --tls (not pulled in without Recommends)
  postfix             # smtp-source / smtp-sink for load tests and benchmarks
  iproute2 procps     # ss, ps in test and bench scripts
  libsystemd-dev      # sd_notify: ferryd.service is Type=notify
  pandoc              # man pages from docs/*.md (dist/manpage.lua)
  man-db groff-base   # man -l / groff checks of those pages in the tests
  dpkg-dev            # `make deb`: dpkg-shlibdeps computes the package's Depends
  lintian             # checks the package (make deb) in the package test, 3-4 s
  systemd             # systemd-analyze verify/security of ferryd.service in the tests
  testssl.sh          # `testssl`: the server TLS profile test (protocols, ciphers, vulnerabilities)
  strace              # delays ferryd's bind/chown calls so the spool link tests can swap a file for a link
  rspamd              # a real content filter (milter mode) for the milter tests and the scanning benchmark
  libcurl4-openssl-dev  # libcurl (OpenSSL flavour): webhook POSTs, verified TLS, many at once (curl multi)
  python3-prometheus-client  # the Prometheus text-format parser the /metrics test reads ferry's output with
  chromium chromium-driver python3-selenium  # the dashboard test drives a real headless browser
  curl                # the HTTP API examples in tests and bench/api.sh
  wrk                 # bench/api.sh: HTTP load on the API
  libhiredis-dev      # hiredis: the Redis client of the shared counters (counters redis://...)
  redis-server        # a real Redis for the shared counters' tests and bench/counters.sh (the system service stays off)
)

# ferryd drops root to this system user after binding its ports.
ensure_user() {
  if [ "$(id -u)" = 0 ] && ! getent passwd ferry >/dev/null; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ferry
  fi
}

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then ensure_user; exit 0; fi

if [ "$(id -u)" != 0 ]; then
  echo "setup: missing packages: ${missing[*]}; run 'make setup' as root (or apt-get install them)" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
# Postfix asks an interactive question at install; we only want its tools.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
ensure_user
# Tests and benchmarks start their own redis-server on a free port; the
# system instance the package enables at boot is not ours to run.
if [[ " ${missing[*]} " == *" redis-server "* ]]; then
  systemctl disable redis-server >/dev/null 2>&1 || true
  update-rc.d redis-server disable >/dev/null 2>&1 || true
  service redis-server stop >/dev/null 2>&1 || true
fi
# The same for the cluster PostgreSQL's package makes and starts (tests
# run their own, as an unprivileged user, in a temporary directory).
if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
  systemctl disable postgresql >/dev/null 2>&1 || true
  update-rc.d postgresql disable >/dev/null 2>&1 || true
  service postgresql stop >/dev/null 2>&1 || true
fi
