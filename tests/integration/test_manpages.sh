#!/usr/bin/env bash
# test_manpages.sh - the man pages the build makes from docs/*.md (pandoc
# with dist/manpage.lua): each renders with man -l, has the NAME line
# whatis(1) reads and the sections a man page needs, and groff reports no
# warning at all (-ww) for it.
set -euo pipefail

BIN=${FERRY_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/test}
fail() { echo "FAIL: $*" >&2; exit 1; }
ERR=$(mktemp)
trap 'rm -f "$ERR"' EXIT

# page : NAME line : sections it must have
check() {
	local page=$1 name=$2; shift 2
	local file=$BIN/man/$page out
	[ -f "$file" ] || fail "$file was not built (the man target)"
	groff -t -man -Tutf8 -ww -z "$file" 2>"$ERR" || fail "groff $page"
	[ ! -s "$ERR" ] || { cat "$ERR"; fail "groff warns about $page"; }
	out=$(MANWIDTH=80 man -l "$file" 2>"$ERR") || fail "man -l $page"
	[ ! -s "$ERR" ] || { cat "$ERR"; fail "man -l $page wrote to stderr"; }
	# Here-strings, not `echo | grep -q`: under pipefail the echo can die of
	# SIGPIPE when grep -q stops reading early, failing the check at random.
	first=${out%%$'\n'*}
	grep -Eq "^${name^^}\(${page##*.}\) +ferry manual +${name^^}\(${page##*.}\)$" <<<"$first" ||
		fail "$page: header line is '$first'"
	nameline=$(grep -A1 '^NAME$' <<<"$out" | tail -1)
	grep -Eq "^ +$name - [a-z]" <<<"$nameline" || fail "$page: NAME line is '$nameline'"
	for sec in "$@"; do
		grep -qx "$sec" <<<"$out" || fail "$page has no $sec section"
	done
	# Markdown that pandoc did not convert would show as such.
	if grep -En '\]\(|^ {0,7}#+ ' <<<"$out"; then fail "$page shows Markdown syntax"; fi
	echo "ok $page"
}

check ferryd.8 ferryd SYNOPSIS DESCRIPTION OPTIONS SIGNALS "EXIT STATUS" "SEE ALSO"
check ferry.conf.5 ferry.conf SYNOPSIS DESCRIPTION FILES "SEE ALSO"
check ferryctl.8 ferryctl SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" "SEE ALSO"
check ferry-sendmail.8 ferry-sendmail SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" "SEE ALSO"
