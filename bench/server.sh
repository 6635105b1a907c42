#!/usr/bin/env bash
# Benchmarks of `runbook server` on SQLite and Postgres (issue 3, point 9):
# dispatch latency, 500 SSE followers, wrk on GET run, idle RSS.
# Usage: bench/server.sh [flags of bench/server, e.g. -stores sqlite]
# Postgres: the server at 127.0.0.1:5432 (or RUNBOOK_TEST_DATABASE_URL);
# a fresh database is made for the run and dropped after it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
	echo "installing wrk (apt-get)" >&2
	apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
# 500 followers and 200 wrk connections need ~1,500 descriptors on each side.
want=8192
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then want=$hard; fi
ulimit -n "$want"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/runbook" ./cmd/runbook
go build -o "$tmp/bench" ./bench/server
"$tmp/bench" -runbook "$tmp/runbook" "$@"
