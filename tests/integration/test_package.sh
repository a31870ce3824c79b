#!/usr/bin/env bash
# test_package.sh - the Debian package (`make deb`) as a user gets it.
# Builds ferry_*.deb from the release build (build/release, which `make
# test` builds first) into a temporary directory, checks its control data
# and contents, unpacks it into a scratch root and checks the sample
# configuration with the packaged ferryd and the man pages with man -l;
# `make install` (cmake --install with DESTDIR) must keep a changed ferry.conf.
# As root, it then installs the package with dpkg for real inside a private
# mount namespace whose /etc, /usr and /var are overlays (nothing outside
# changes), on a machine without the ferry user: the postinst creates the
# user and the spool, `ferryd -t -c /etc/ferry/ferry.conf` passes and
# `systemd-analyze verify` accepts the installed unit; then the installed
# ferryd runs on the sample configuration within the unit's capability
# bounding set, with no new privileges and a read-only system but the spool,
# and takes mail on 127.0.0.1:25 and from ferry-sendmail (no -C). Then the
# maintainer scripts: remove, reinstall and purge without systemd (the mail,
# the spool and the user stay), and as on a systemd host with systemctl and
# deb-systemd-invoke logging their calls (a fresh install starts nothing, an
# upgrade try-restarts, remove stops, purge removes an enable symlink and a
# spool ferryd never wrote to). FERRY_TEST_PACKAGE_BREAK=1 fails on purpose
# while the packaged ferryd runs, to check that nothing leaks (processes,
# mounts, the ferry user, files).
# Exit 77 (skipped) when there is no release build to package.
set -euo pipefail

SRC=${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
REL=${FERRY_RELEASE:-$SRC/build/release}
if [ ! -f "$REL/CPackConfig.cmake" ]; then
	echo "SKIP: no release build in $REL (make build, or set FERRY_RELEASE)"
	exit 77
fi
if ! grep -qx 'CMAKE_INSTALL_PREFIX:PATH=/usr' "$REL/CMakeCache.txt"; then
	echo "SKIP: $REL was configured for another prefix (make install PREFIX=...); make deb uses /usr"
	exit 77
fi
TMP=$(mktemp -d /tmp/ferrypkg.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
# No `| grep -q` in this file: grep -q stops reading at the first match, the
# writer dies of SIGPIPE and pipefail fails the pipeline (now and then).

step "cpack -G DEB from $REL"
(cd "$REL" && cpack -G DEB -B "$TMP/out" >"$TMP/cpack.log" 2>&1) || { cat "$TMP/cpack.log"; fail "cpack"; }
DEB=$(ls "$TMP"/out/ferry_*_*.deb)
[ -f "$DEB" ] || fail "no ferry_*.deb in $TMP/out"

step "control data"
dpkg-deb -f "$DEB" Package | grep -x ferry >/dev/null || fail "package name"
dpkg-deb -f "$DEB" Depends | grep 'libevent-core' >/dev/null || fail "Depends lacks the shared libraries: $(dpkg-deb -f "$DEB" Depends)"
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles | grep -x /etc/ferry/ferry.conf >/dev/null || fail "conffiles"
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles | grep -x /etc/ferry/shaping.rules >/dev/null ||
	fail "conffiles: shaping.rules"
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles | grep -x /etc/ferry/bounce.rules >/dev/null ||
	fail "conffiles: bounce.rules"
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./postinst | grep useradd >/dev/null || fail "postinst"

# lintian (3-4 s): no error or warning, except three that wait for a
# project decision: the Maintainer address (ferry@localhost), a license for
# /usr/share/doc/ferry/copyright, and a Debian changelog.
if command -v lintian >/dev/null; then
	step "lintian"
	lintian --no-cfg --suppress-tags bogus-mail-host,no-copyright-file,no-changelog \
		"$DEB" >"$TMP/lintian.out" 2>"$TMP/lintian.err" || true
	if grep -E '^[EW]: ' "$TMP/lintian.out"; then fail "lintian"; fi
	grep -Ev '^(running with root privileges|$)' "$TMP/lintian.err" >&2 && fail "lintian could not run"
else
	step "lintian: not installed (scripts/setup.sh), skipped"
fi

step "contents"
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|' >"$TMP/files"
for f in /usr/sbin/ferryd /usr/sbin/ferryctl /usr/sbin/ferry-sendmail /etc/ferry/ferry.conf \
    /etc/ferry/shaping.rules /etc/ferry/bounce.rules \
    /lib/systemd/system/ferryd.service /usr/share/man/man8/ferryd.8.gz \
    /usr/share/man/man5/ferry.conf.5.gz /usr/share/man/man8/ferryctl.8.gz \
    /usr/share/man/man8/ferry-sendmail.8.gz /usr/share/ferry/www/index.html \
    /usr/share/ferry/www/app.js /usr/share/ferry/www/app.css; do
	grep -qx "$f" "$TMP/files" || fail "$f is not in the package"
done
# Installing over a system MTA's sendmail/mailq is the administrator's call.
if grep -E '/(sendmail|mailq|newaliases)$' "$TMP/files"; then fail "the package ships sendmail links"; fi

step "unpacked into a scratch root"
ROOT=$TMP/root
dpkg-deb -x "$DEB" "$ROOT"
# The sample names /var/spool/ferry; -t reads the file and checks the TLS
# key only if present, so it does not need the spool to exist. It names
# /etc/ferry/shaping.rules and /etc/ferry/bounce.rules, read at once: the
# unpacked ones here.
grep -x 'shaping_rules /etc/ferry/shaping.rules' "$ROOT/etc/ferry/ferry.conf" >/dev/null ||
	fail "sample: shaping_rules /etc/ferry/shaping.rules"
grep -x 'bounce_rules /etc/ferry/bounce.rules' "$ROOT/etc/ferry/ferry.conf" >/dev/null ||
	fail "sample: bounce_rules /etc/ferry/bounce.rules"
sed -e "s|^shaping_rules /etc/|shaping_rules $ROOT/etc/|" -e "s|^bounce_rules /etc/|bounce_rules $ROOT/etc/|" \
    "$ROOT/etc/ferry/ferry.conf" >"$TMP/sample.conf"
"$ROOT/usr/sbin/ferryd" -t -c "$TMP/sample.conf" || fail "ferryd -t on the sample configuration"
# The commented opt-in lines are valid too: network listeners instead of
# loopback, example domains, relay_networks, a smarthost route, log_file.
sed -e 's/^listen .*127\.0\.0\.1:/#&/' -e 's/^#\(listen .*\*:\)/\1/' \
    -e 's/^#\(hostname\|log_file\|domain\|mailbox\|alias\|relay_networks\|route\) /\1 /' \
    "$TMP/sample.conf" >"$TMP/optin.conf"
grep -Eq '^listen +mx +\*:25$' "$TMP/optin.conf" && grep -q '^route ' "$TMP/optin.conf" ||
	fail "the sample's opt-in lines are not where this test expects them"
"$ROOT/usr/sbin/ferryd" -t -c "$TMP/optin.conf" || fail "ferryd -t on the sample with its opt-in lines enabled"
# The package's version (dist/CMakeLists.txt) and ferryd's (main.c) agree.
[ "$("$ROOT/usr/sbin/ferryd" -V)" = "ferryd $(dpkg-deb -f "$DEB" Version)" ] ||
	fail "ferryd -V says '$("$ROOT/usr/sbin/ferryd" -V)', the package $(dpkg-deb -f "$DEB" Version)"
grep -Eq '^listen +mx +127\.0\.0\.1:25$' "$ROOT/etc/ferry/ferry.conf" || fail "sample: mx on loopback"
if grep -Eq '^listen .*(\*|0\.0\.0\.0|\[::\]):' "$ROOT/etc/ferry/ferry.conf"; then
	fail "sample: a listener beyond loopback is not opt-in"
fi
for page in man8/ferryd.8 man5/ferry.conf.5 man8/ferryctl.8 man8/ferry-sendmail.8; do
	name=$(basename "$page" | sed 's/\.[0-9]$//')
	out=$(MANWIDTH=80 man -l "$ROOT/usr/share/man/$page.gz" 2>"$TMP/man.err") || fail "man -l $page"
	[ ! -s "$TMP/man.err" ] || { cat "$TMP/man.err"; fail "man -l $page wrote warnings"; }
	echo "$out" | grep '^NAME$' >/dev/null || fail "$page has no NAME section"
	echo "$out" | grep -A1 '^NAME$' | grep "^ *$name - " >/dev/null || fail "$page: NAME is not '$name - ...'"
done

step "make install (DESTDIR) keeps an existing ferry.conf"
DI=$TMP/destdir
DESTDIR=$DI cmake --install "$REL" >/dev/null
cmp "$DI/etc/ferry/ferry.conf" "$ROOT/etc/ferry/ferry.conf" || fail "make install's ferry.conf differs from the package's"
[ -x "$DI/usr/sbin/ferryd" ] && [ -f "$DI/lib/systemd/system/ferryd.service" ] || fail "make install layout"
echo '# local change' >>"$DI/etc/ferry/ferry.conf"
DESTDIR=$DI cmake --install "$REL" >"$TMP/install.log"
grep -qx '# local change' "$DI/etc/ferry/ferry.conf" || fail "make install replaced an existing ferry.conf"
grep -q 'Keeping: .*/etc/ferry/ferry.conf' "$TMP/install.log" || fail "make install did not say it kept ferry.conf"

if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
	echo "ok (dpkg install skipped: needs root and unshare)"
	exit 0
fi

step "dpkg -i, -r, -P in private namespaces (overlays on /etc /usr /var, tmpfs on /run)"
# Nothing may reach the host, even when a check fails halfway: everything
# runs in a mount, PID and network namespace (unshare --kill-child). When
# its first process exits, for whatever reason, the kernel kills every
# process left in it (a ferryd) and the mounts go with the namespace,
# before the EXIT trap removes $TMP. The ferry user exists only in the
# overlay's /etc; a tmpfs over /run hides the host's systemd (its
# /run/systemd/private socket) from systemctl in the maintainer scripts.
mkdir -p "$TMP/ov"
cat >"$TMP/inside.sh" <<'INSIDE'
set -euo pipefail
TMP=$1 DEB=$2      # no `| grep -q` here either (SIGPIPE under pipefail)
trap 'echo "inside.sh:$LINENO: failed: $BASH_COMMAND" >&2' ERR
mount --make-rprivate /
for d in etc usr var; do
	mkdir -p "$TMP/ov/$d/upper" "$TMP/ov/$d/work"
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$TMP/ov/$d/upper,workdir=$TMP/ov/$d/work" "/$d"
done
mount -t tmpfs -o mode=0755 ferry-run /run
[ -z "$(ls -A /run)" ]    # no /run/systemd/private, no D-Bus socket of the host
# A machine that never had ferry: no user, no group, no spool, no unit state.
# (userdel refuses while the host runs ferry processes: edit the files,
# which are the overlay's copies.)
for f in passwd shadow group gshadow; do
	[ ! -e /etc/$f ] || sed -i '/^ferry:/d' /etc/$f
done
if getent passwd ferry >/dev/null; then echo "ferry user still there"; exit 1; fi
rm -rf /var/spool/ferry /etc/ferry /var/lib/systemd/deb-systemd-helper-*/ferryd.service* \
	/etc/systemd/system/ferryd.service /etc/systemd/system/*.wants/ferryd.service
dpkg --no-triggers -i "$DEB" >/dev/null
dpkg -s ferry | grep -x 'Status: install ok installed' >/dev/null
getent passwd ferry | grep ':/usr/sbin/nologin$' >/dev/null
[ "$(stat -c %U:%G:%a /var/spool/ferry)" = ferry:ferry:751 ]
ferryd -t -c /etc/ferry/ferry.conf
# verify exits 0 after warnings (unknown keys, bad values): none allowed.
# It runs without systemd as PID 1, and checks that ExecStart= programs and
# the Documentation= man pages exist.
out=$(systemd-analyze verify /lib/systemd/system/ferryd.service 2>&1)
[ -z "$out" ] || { echo "$out"; exit 1; }
# The hardening as systemd scores it: 0 (locked down) to 10; "OK" is < 4.
score=$(systemd-analyze security --offline=yes /lib/systemd/system/ferryd.service 2>&1 |
	sed -n 's/.*Overall exposure level for ferryd.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security: exposure $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s < 4.0) }'
man ferryd | grep 'the ferry SMTP daemon' >/dev/null
# A changed conffile survives an upgrade (the same version, reinstalled).
echo '# local change' >>/etc/ferry/ferry.conf
dpkg --no-triggers --force-confold -i "$DEB" >/dev/null
grep -qx '# local change' /etc/ferry/ferry.conf
echo "inside: installed, user and spool created, ferryd -t and systemd-analyze verify pass"

# Run the installed ferryd in a mount namespace of its own, so that the
# read-only remounts end with it (run.sh).
unshare -m -n bash "$TMP/run.sh" "$TMP"

# Without systemd: remove keeps the conffile, the spool with its mail and
# the user; reinstalling (postinst configure OLD) keeps the changed
# conffile; purge removes /etc/ferry and keeps the spool, which holds mail.
mail=$(find /var/spool/ferry/mail -type f | sort)
[ -n "$mail" ]
dpkg --no-triggers -r ferry >/dev/null
dpkg -s ferry | grep -x 'Status: deinstall ok config-files' >/dev/null
# (No `[ A ] && [ B ]` as a check: set -e ignores a failing A.)
[ ! -e /usr/sbin/ferryd ]
[ ! -e /lib/systemd/system/ferryd.service ]
grep -qx '# local change' /etc/ferry/ferry.conf
[ "$(find /var/spool/ferry/mail -type f | sort)" = "$mail" ]
getent passwd ferry >/dev/null
# remove masked the unit (its enable symlinks would name a missing file);
# reinstalling unmasks it.
[ "$(readlink /etc/systemd/system/ferryd.service)" = /dev/null ]
dpkg --no-triggers --force-confold -i "$DEB" >/dev/null
dpkg -s ferry | grep -x 'Status: install ok installed' >/dev/null
grep -qx '# local change' /etc/ferry/ferry.conf
[ ! -L /etc/systemd/system/ferryd.service ]
dpkg --no-triggers -P ferry 2>"$TMP/purge.err" >/dev/null
if dpkg -s ferry >/dev/null 2>&1; then echo "purge left the package known"; exit 1; fi
[ ! -e /etc/ferry ]
[ "$(find /var/spool/ferry/mail -type f | sort)" = "$mail" ]
grep 'ferry: /var/spool/ferry is kept' "$TMP/purge.err" >/dev/null
getent passwd ferry >/dev/null
echo "inside: without systemd, remove, reinstall and purge keep the mail and the user"

# As on a systemd host, without one: /run/systemd/system exists (so the
# scripts call systemctl and deb-systemd-invoke) and those two log their
# arguments instead. The real deb-systemd-helper keeps its state in the
# overlay's /etc and /var/lib.
mkdir -p /run/systemd/system
for t in systemctl deb-systemd-invoke; do
	printf '#!/bin/sh\necho "%s $*" >>"%s/systemd.log"\n' "$t" "$TMP" >"/usr/bin/$t"
done
rm -rf /var/spool/ferry
: >"$TMP/systemd.log"
dpkg --no-triggers -i "$DEB" >/dev/null
# A fresh install starts nothing (port 25 may be another MTA's).
if grep -E '(start|enable)( |$)' "$TMP/systemd.log"; then echo "a fresh install started ferryd"; exit 1; fi
# The administrator enables it (systemctl enable, offline: the symlink).
wants=/etc/systemd/system/multi-user.target.wants/ferryd.service
mkdir -p "$(dirname "$wants")"
ln -s /lib/systemd/system/ferryd.service "$wants"
: >"$TMP/systemd.log"
dpkg --no-triggers -i "$DEB" >/dev/null
# An upgrade restarts ferryd if it runs, and only then.
grep -x 'deb-systemd-invoke try-restart ferryd.service' "$TMP/systemd.log" >/dev/null || { cat "$TMP/systemd.log"; exit 1; }
if grep -E 'invoke (start|restart|stop)' "$TMP/systemd.log"; then exit 1; fi
: >"$TMP/systemd.log"
dpkg --no-triggers -r ferry >/dev/null
grep -x 'deb-systemd-invoke stop ferryd.service' "$TMP/systemd.log" >/dev/null || { cat "$TMP/systemd.log"; exit 1; }
# A spool ferryd never wrote to is the package's: purge removes it, and the
# enable symlink the administrator made.
mkdir /var/spool/ferry/queue
dpkg --no-triggers -P ferry >/dev/null
[ ! -e /var/spool/ferry ] && [ ! -L "$wants" ] && [ ! -e /etc/systemd/system/ferryd.service ] ||
	{ ls -la /var/spool/ferry "$wants" /etc/systemd/system/ferryd.service; exit 1; }
echo "inside: as on a systemd host, install starts nothing, upgrade try-restarts, remove stops, purge cleans up"
INSIDE
cat >"$TMP/run.sh" <<'RUN'
# Run the installed ferryd on the sample configuration as ferryd.service
# would: only the unit's bounding set of capabilities, no new privileges,
# every file system read-only but the spool (ProtectSystem=strict with
# ReadWritePaths), in a network namespace of its own so that the standard
# ports 25/587/465 on loopback are free.
set -euo pipefail
TMP=$1
trap 'echo "run.sh:$LINENO: failed: $BASH_COMMAND" >&2' ERR
pid=
# A failed check exits here: stop ferryd first (the PID namespace around
# would kill it too, but not before the mail checks that follow run.sh).
trap '[ -z "$pid" ] || { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; } || true' EXIT
mount --bind /var/spool/ferry /var/spool/ferry
for d in etc usr var; do mount -o remount,bind,ro "/$d"; done
mount -o remount,bind,rw /var/spool/ferry
ip link set lo up
# The unit's CapabilityBoundingSet, as setpriv spells it: -all,+net_bind_service,...
caps=-all,$(sed -n 's/^CapabilityBoundingSet=//p' /lib/systemd/system/ferryd.service |
	tr 'A-Z ' 'a-z,' | sed 's/cap_/+/g')
[ "$caps" != "-all," ] || { echo "no CapabilityBoundingSet in the unit"; exit 1; }
setpriv --bounding-set "$caps" --no-new-privs ferryd -c /etc/ferry/ferry.conf 2>"$TMP/ferryd.err" &
pid=$!
for _ in $(seq 100); do
	# the port accepts (the kernel queues) before ferryd has started
	if (exec 3<>/dev/tcp/127.0.0.1/25) 2>/dev/null && grep -q 'event=started' "$TMP/ferryd.err"; then
		break
	fi
	kill -0 "$pid" || { cat "$TMP/ferryd.err"; exit 1; }
	sleep 0.1
done
grep -q 'event=started .*user=ferry tls=yes' "$TMP/ferryd.err" || { cat "$TMP/ferryd.err"; exit 1; }
[ -z "${FERRY_TEST_PACKAGE_BREAK:-}" ] || { echo "run: failing on purpose (FERRY_TEST_PACKAGE_BREAK)"; exit 1; }
swaks --server 127.0.0.1:25 --from a@example.org --to postmaster@localhost --silent 2 >/dev/null
# ferry-sendmail and mailq without -C: /etc/ferry/ferry.conf, its spool.
printf 'Subject: from the package\n\nhello\n' | ferry-sendmail -f root@localhost postmaster@localhost
ferry-sendmail -bp >"$TMP/mailq.out"
box=/var/spool/ferry/mail/localhost/postmaster/new
for _ in $(seq 100); do
	[ "$(ls "$box" 2>/dev/null | wc -l)" -ge 2 ] && break
	sleep 0.1
done
[ "$(ls "$box" | wc -l)" = 2 ] || { ls -l "$box"; cat "$TMP/ferryd.err"; exit 1; }
kill -TERM "$pid"
wait "$pid"
pid=
if grep -E 'event=(fatal|.*-failed)' "$TMP/ferryd.err"; then exit 1; fi
echo "run: the packaged ferryd took mail on 127.0.0.1:25 and from ferry-sendmail within the unit's limits"
RUN
PROBE=$(unshare -m sh -c "mount --make-rprivate / && mkdir -p $TMP/p/u $TMP/p/w && mount -t overlay overlay -o lowerdir=/etc,upperdir=$TMP/p/u,workdir=$TMP/p/w /etc && echo yes" 2>/dev/null || true)
if [ "$PROBE" != yes ]; then
	echo "ok (dpkg install skipped: no overlayfs in a mount namespace here)"
	exit 0
fi
host_state() {
	ls -d /etc/ferry /var/spool/ferry /usr/sbin/ferryd /lib/systemd/system/ferryd.service \
		/etc/systemd/system/*.wants/ferryd.service /etc/systemd/system/ferryd.service \
		/var/lib/systemd/deb-systemd-helper-enabled/ferryd.service* 2>/dev/null || true
	getent passwd ferry || true
	dpkg-query -W -f '${Status}\n' ferry 2>/dev/null || true
}
before=$(host_state)
PATH=/usr/sbin:/usr/bin:/sbin:/bin unshare -m -n --pid --fork --kill-child --mount-proc \
	bash "$TMP/inside.sh" "$TMP" "$DEB" || fail "install in the scratch namespace"
after=$(host_state)
[ "$before" = "$after" ] || fail "the install leaked out of its namespace: '$before' -> '$after'"
if grep -F "$TMP" /proc/self/mountinfo; then fail "mounts of the namespace are visible outside"; fi
echo ok
