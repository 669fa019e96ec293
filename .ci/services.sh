#!/usr/bin/env bash
# The external services the test suite uses, installed and started as an explicit step of
# `make test` (and so of .ci/run), never as a side effect of a test:
#
#   .ci/services.sh start ENVFILE   install what is missing (apt-get, as root), start a
#                                   throw-away PostgreSQL cluster on 127.0.0.1, write
#                                   MNISTLAB_TEST_POSTGRES=<dsn> (and CHROMIUM=<path>) to ENVFILE
#   .ci/services.sh stop ENVFILE    stop that cluster and delete its files
#
# tests/services reads MNISTLAB_TEST_POSTGRES, tests/browser reads CHROMIUM; where a service
# is missing those tests skip, except under CI=true, where they fail.
set -uo pipefail

cmd=${1:-}; envfile=${2:-}
[[ -n "$cmd" && -n "$envfile" ]] || { echo "usage: $0 start|stop ENVFILE" >&2; exit 2; }

note() { echo "services: $*" >&2; }

apt_install() {  # apt-get install PACKAGE... (root only); `apt-get update` first only if that fails
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        note "not root or no apt-get: install $* yourself"; return 1
    fi
    local apt=(apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$@")
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" >/dev/null 2>&1 && return 0
    DEBIAN_FRONTEND=noninteractive apt-get -q update >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" >/dev/null 2>&1
}

pg_bindir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [[ -n "$found" && -x "$found/initdb" ]]; then echo "$found"; return; fi
    command -v initdb >/dev/null && dirname "$(command -v initdb)"
}

find_chromium() {
    local name
    for name in chromium chromium-browser google-chrome google-chrome-stable; do
        command -v "$name" && return 0
    done
    return 1
}

start() {
    : > "$envfile"
    # Chromium for tests/browser
    local chromium
    chromium=$(find_chromium) || { apt_install chromium && chromium=$(find_chromium); }
    if [[ -n "${chromium:-}" ]]; then echo "CHROMIUM=$chromium" >> "$envfile"
    else note "no Chromium: tests/browser will skip (fail under CI=true)"; fi

    # PostgreSQL for tests/services: a cluster of its own in a temp folder, trust auth,
    # listening on 127.0.0.1 only, on a free port
    local bindir
    bindir=$(pg_bindir) || true
    if [[ -z "$bindir" ]]; then apt_install postgresql && bindir=$(pg_bindir); fi
    if [[ -z "$bindir" ]]; then
        note "no PostgreSQL: tests/services will skip (fail under CI=true)"; return 0
    fi
    local root port as_user=()
    root=$(mktemp -d /tmp/mnistlab-pg-XXXXXX)
    if [[ $(id -u) -eq 0 ]]; then  # PostgreSQL refuses to run as root
        as_user=(runuser -u postgres --); chown postgres: "$root"
    fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if "${as_user[@]}" "$bindir/initdb" -D "$root/data" -A trust -U postgres >"$root/initdb.log" 2>&1 &&
       "${as_user[@]}" "$bindir/pg_ctl" -D "$root/data" -l "$root/log" -w start \
           -o "-p $port -k $root -c listen_addresses=127.0.0.1" >/dev/null 2>&1 &&
       "${as_user[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres mnistlab_test; then
        echo "MNISTLAB_TEST_POSTGRES=postgresql://postgres@127.0.0.1:$port/mnistlab_test" >> "$envfile"
        echo "MNISTLAB_TEST_PGROOT=$root" >> "$envfile"
        note "PostgreSQL on 127.0.0.1:$port ($root)"
    else
        note "could not start PostgreSQL: $(tail -3 "$root/log" "$root/initdb.log" 2>/dev/null | tr '\n' ' ')"
        rm -rf "$root"
    fi
}

stop() {
    [[ -f "$envfile" ]] || return 0
    local root bindir
    root=$(sed -n 's/^MNISTLAB_TEST_PGROOT=//p' "$envfile")
    bindir=$(pg_bindir)
    if [[ -n "$root" && -d "$root/data" ]]; then
        if [[ $(id -u) -eq 0 ]]; then
            runuser -u postgres -- "$bindir/pg_ctl" -D "$root/data" -m immediate stop >/dev/null 2>&1
        else
            "$bindir/pg_ctl" -D "$root/data" -m immediate stop >/dev/null 2>&1
        fi
        rm -rf "$root"
    fi
    rm -f "$envfile"
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop ENVFILE" >&2; exit 2 ;;
esac
