#!/usr/bin/env bash
# Starts a Flink JobManager or TaskManager for the supervisor: ARGV_FILE holds what Flink's own start
# script (SCRIPT start-foreground) produced for it at `stack up` (include/patternalarm/stack/flink.py:
# capture_launch) — the FLINK_* variables it exported, "--", the java command line; NUL-separated — so a
# restart after a crash starts the JVM at once instead of first running the script's three helper JVMs
# (20 s on a loaded 2-core machine). exec: the supervisor holds the JVM itself. Without the file it runs
# the script as before.
# usage: flink-launch.sh ARGV_FILE SCRIPT [ARGS…]
argv_file=$1
shift
if [ -s "$argv_file" ]; then
  mapfile -d '' -t items < "$argv_file"
  for i in "${!items[@]}"; do
    if [ "${items[$i]}" = "--" ]; then
      exec "${items[@]:$((i + 1))}"
    fi
    export "${items[$i]}"
  done
  echo "flink-launch: $argv_file has no '--'; run 'bin/patternalarm stack up' to write it again" >&2
  exit 1
fi
exec bash "$@"
