#!/usr/bin/env bash
# Where the TaskManager's CPU goes: samples every thread of the running TaskManager (JIT, collector,
# checkpointing and the tasks alike) with async-profiler for SECONDS and writes an HTML flame graph.
#   scripts/profile-taskmanager.sh [SECONDS] [OUT.html]      (default 30 s, .data/reports/profiles/)
# Run it while the load you want to see is on (e.g. during `bin/patternalarm bench --only backlog`).
# async-profiler is pinned in build/maven/pom.xml (profile "profiler") and fetched on first use.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-30}"
out="${2:-$root/.data/reports/profiles/taskmanager-$(date -u +%Y%m%dT%H%M%SZ).html}"
[[ "$secs" =~ ^[0-9]+$ ]] && [ "$secs" -ge 1 ] && [ "$secs" -le 3600 ] \
  || { echo "SECONDS must be a whole number from 1 to 3600, not '$secs'" >&2; exit 2; }
pid="$(pgrep -f org.apache.flink.runtime.taskexecutor.TaskManagerRunner | head -1 || true)"
[ -n "$pid" ] || { echo "no TaskManager is running (bin/patternalarm stack up)" >&2; exit 1; }
dir="$root/.deps/jars/profiler"
lib="$dir/linux-x64/libasyncProfiler.so"
if [ ! -f "$lib" ]; then
  echo "fetching async-profiler (Maven Central, pinned in build/maven/pom.xml)"
  mvn -q -B -f "$root/build/maven/pom.xml" -P profiler dependency:copy-dependencies -DoutputDirectory="$dir"
  (cd "$dir" && jar xf async-profiler-*.jar linux-x64)  # the JDK's jar tool: no unzip needed
fi
mkdir -p "$(dirname "$out")"
attach() { java "$root/scripts/Attach.java" "$pid" "$lib" "$1"; }
# itimer: CPU time of every thread, without perf_events (often not permitted in a VM or container)
attach "start,event=itimer,interval=10ms,file=$out"
echo "profiling TaskManager $pid for ${secs}s"
sleep "$secs"
attach "stop,file=$out"
echo "flame graph: $out"
