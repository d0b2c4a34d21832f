"""Locating the installed pieces (made by `make setup`) with errors that say what to do."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
from pathlib import Path

from include.patternalarm.settings import Settings


class StackError(RuntimeError):
    """A stack operation failed; the message says which service and where to look."""


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise StackError(f"{what} not found at {path}: run `make setup` first")
    return path


def java() -> str:
    found = shutil.which("java")
    if not found:
        raise StackError("java not found on PATH: install a Java 17 JDK (Debian: openjdk-17-jdk-headless)")
    return found


def postgres_bindir() -> Path:
    """The PostgreSQL server binaries (Debian's postgresql-15 package)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), reverse=True)
    preferred = [c for c in candidates if "/15/" in c] or candidates
    if not preferred:
        raise StackError("PostgreSQL server not installed (/usr/lib/postgresql/*/bin/postgres): run `make setup`")
    return Path(preferred[0]).parent


def running_as_root() -> bool:
    return os.geteuid() == 0


def postgres_os_user() -> str | None:
    """The unprivileged OS user the server runs as when we are root (initdb refuses root)."""
    if not running_as_root():
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise StackError("running as root but there is no `postgres` OS user: run `make setup`") from exc
    return "postgres"


def chown_to(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def kafka_classpath(settings: Settings) -> str:
    jars = _need(settings.deps_dir / "jars" / "kafka", "Kafka broker jars")
    return str(jars / "*")


def flink_home(settings: Settings) -> Path:
    """The Flink distribution shipped inside the apache-flink wheel."""
    return _need(
        settings.flink_venv_dir / "lib" / "python3.11" / "site-packages" / "pyflink", "Flink distribution"
    )


def flink_lib_dirs(settings: Settings) -> tuple[Path, Path]:
    """lib/ and opt/ assembled by setup: the wheel's jars plus the Kafka connector and SQL Gateway."""
    base = settings.deps_dir / "flink"
    return _need(base / "lib", "Flink lib folder"), _need(base / "opt", "Flink opt folder")


def spark_jars(settings: Settings) -> list[Path]:
    """Jars spark-submit needs: Spark's Kafka source and the PostgreSQL JDBC driver."""
    folder = _need(settings.deps_dir / "jars" / "spark", "Spark jars")
    return sorted(folder.glob("*.jar"))


def venv_bin(settings: Settings, name: str) -> str:
    return str(_need(settings.venv_dir / "bin" / name, name))
