#!/usr/bin/env bash
# Installs everything patternalarm needs, idempotently: Debian packages, the two Python
# environments, and the pinned Java artifacts. A second run only checks stamps (seconds).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
deps="$root/.deps"
stamps="$deps/stamps"
mkdir -p "$stamps"
PY="${PATTERNALARM_PYTHON:-python3.11}"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }

need "$PY" "install Python 3.11 (or set PATTERNALARM_PYTHON to a 3.11 interpreter)"
need java "install a Java 17 JDK (Debian: apt-get install openjdk-17-jdk-headless)"
need mvn "install Maven (Debian: apt-get install maven)"
java_major=$(java -XshowSettings:properties -version 2>&1 | awk -F= '/java.specification.version/ {gsub(/ /,"",$2); print $2}')
[ "${java_major%%.*}" -ge 17 ] || die "Java 17 or newer needed, found $java_major"

# --- Debian packages ----------------------------------------------------------------------------
missing=()
while read -r spec; do
  case "$spec" in ''|\#*) continue;; esac
  pkg="${spec%%=*}"
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$spec")
done < build/debian-packages.txt
if [ ${#missing[@]} -gt 0 ]; then
  need apt-get "Debian packages missing (${missing[*]}) and apt-get is not available; install them by hand"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    $sudo apt-get update -q >/dev/null 2>&1 || true
    if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
      say "pinned versions not available; installing the current candidates of: ${missing[*]%%=*}"
      names=(); for spec in "${missing[@]}"; do names+=("${spec%%=*}"); done
      $sudo apt-get install -y -q --no-install-recommends "${names[@]}" || die "apt-get install failed"
    fi
  fi
  # Debian's package starts a system cluster on 5432; the project runs its own (stack up).
  if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
    $sudo pg_ctlcluster 15 main stop 2>/dev/null || true
  fi
fi

# --- the two Python environments and the pinned jars: independent downloads, fetched side by side -----
# (on a fresh machine they are most of the setup time). Each part logs to .deps/logs/<part>.log; a part
# that fails is named with the end of its log.
logs="$deps/logs"; mkdir -p "$logs"
main_venv() {
  local stamp="$stamps/venv-$(hash_of requirements.txt requirements-dev.txt pyproject.toml)"
  if [ ! -f "$stamp" ] || [ ! -x .venv/bin/python ]; then
    say "main Python environment (.venv): Airflow, providers, PySpark, Great Expectations…"
    [ -x .venv/bin/python ] || "$PY" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade "pip==25.3"
    .venv/bin/pip install -q --progress-bar off -r requirements.txt -r requirements-dev.txt
    .venv/bin/pip install -q --no-deps -e .
    rm -f "$stamps"/venv-[0-9a-f]*; touch "$stamp"
  fi
}
flink_venv() {
  local stamp="$stamps/venv-flink-$(hash_of requirements-flink.txt)"
  if [ ! -f "$stamp" ] || [ ! -x .venv-flink/bin/python ]; then
    say "Flink runtime environment (.venv-flink): apache-flink with its distribution"
    [ -x .venv-flink/bin/python ] || "$PY" -m venv .venv-flink
    .venv-flink/bin/python -m pip install -q --upgrade "pip==25.3"
    .venv-flink/bin/pip install -q --progress-bar off -r requirements-flink.txt
    rm -f "$stamps"/venv-flink-*; touch "$stamp"
  fi
}
jars() {
  local stamp="$stamps/jars-$(hash_of build/maven/pom.xml)"
  if [ ! -f "$stamp" ]; then
    for profile in kafka flink spark; do
      say "jars: $profile (Maven Central, pinned in build/maven/pom.xml)"
      rm -rf "$deps/jars/$profile"
      mvn -q -B -f build/maven/pom.xml -P "$profile" dependency:copy-dependencies \
        -DoutputDirectory="$deps/jars/$profile" || { echo "Maven could not fetch the $profile jars" >&2; return 1; }
    done
    rm -f "$stamps"/jars-*; touch "$stamp"
  fi
}
pids=(); parts=(main_venv flink_venv jars)
for part in "${parts[@]}"; do
  ( set -euo pipefail; "$part" ) > >(tee "$logs/$part.log") 2> "$logs/$part.err" &
  pids+=($!)
done
failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${parts[$i]}")
done
for part in "${failed[@]}"; do
  printf '\033[1;31m[setup] %s failed:\033[0m\n' "$part" >&2
  tail -n 30 "$logs/$part.err" >&2
done
[ ${#failed[@]} -eq 0 ] || die "${failed[*]} failed (logs in $logs); fix the cause and rerun make setup"

# --- Flink lib/ and opt/: the wheel's distribution plus the connector and the SQL Gateway ------
dist="$root/.venv-flink/lib/python3.11/site-packages/pyflink"
[ -f "$dist/bin/config.sh" ] || die "Flink distribution missing in $dist: remove .deps/stamps and rerun"
stamp="$stamps/flink-dirs-$(ls "$dist/lib" "$deps/jars/flink" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  rm -rf "$deps/flink"; mkdir -p "$deps/flink/lib" "$deps/flink/opt"
  ln -s "$dist"/lib/*.jar "$deps/flink/lib/"
  ln -s "$deps"/jars/flink/flink-sql-connector-kafka-*.jar "$deps/flink/lib/"
  ln -s "$deps"/jars/flink/flink-sql-gateway-*.jar "$deps/flink/opt/"
  ln -s "$dist"/opt/flink-python-*.jar "$deps/flink/opt/"
  rm -f "$stamps"/flink-dirs-*; touch "$stamp"
fi

# --- patternalarm's Flink functions (java/: the event format, detectors), linked into lib/ ------
jar="$root/java/target/patternalarm-flink.jar"
stamp="$stamps/flink-functions-$(find java/pom.xml java/src/main -type f | sort | xargs cat | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ ! -f "$jar" ]; then
  say "patternalarm Flink functions (java/, Maven; Flink itself is provided by the cluster)"
  mvn -q -B -f java/pom.xml -DskipTests package || die "the Flink functions did not build (mvn -f java/pom.xml package)"
  rm -f "$stamps"/flink-functions-*; touch "$stamp"
fi
ln -sfn "$jar" "$deps/flink/lib/patternalarm-flink.jar"

say "ready: bin/patternalarm stack up"
