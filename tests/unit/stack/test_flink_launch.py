"""scripts/flink-launch.sh: starts the command captured at `stack up` with its FLINK_* variables, or the
official script when nothing was captured, and refuses a file without its separator."""

from __future__ import annotations

import subprocess
from pathlib import Path

from include.patternalarm.settings import REPO_ROOT

LAUNCHER = str(REPO_ROOT / "scripts" / "flink-launch.sh")


def _run(argv_file: Path, *script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", LAUNCHER, str(argv_file), *script], capture_output=True, text=True, timeout=30)


def _write(path: Path, *items: str) -> Path:
    path.write_bytes(b"".join(item.encode() + b"\0" for item in items))
    return path


def test_the_captured_command_runs_with_its_variables(tmp_path: Path) -> None:
    argv = _write(tmp_path / "jm.argv", "FLINK_CONF_DIR=/conf dir", "FLINK_INHERITED_LOGS=\nlines\n", "--",
                  "bash", "-c", 'echo "$FLINK_CONF_DIR|$0|$1"', "first arg", "--second")
    out = _run(argv, "/nonexistent/jobmanager.sh", "start-foreground")
    assert out.returncode == 0 and out.stdout == "/conf dir|first arg|--second\n", out.stderr


def test_without_a_captured_command_the_script_runs(tmp_path: Path) -> None:
    script = tmp_path / "jobmanager.sh"
    script.write_text('echo "script $1"\n')
    out = _run(tmp_path / "missing.argv", str(script), "start-foreground")
    assert out.returncode == 0 and out.stdout == "script start-foreground\n"


def test_a_file_without_the_separator_is_refused_with_what_to_do(tmp_path: Path) -> None:
    out = _run(_write(tmp_path / "bad.argv", "FLINK_CONF_DIR=/c", "java"), "/bin/true")
    assert out.returncode == 1 and "stack up" in out.stderr


def test_read_launch_splits_variables_from_the_command_and_refuses_a_file_without_one(tmp_path: Path) -> None:
    from include.patternalarm.stack.flink import read_launch

    good = _write(tmp_path / "tm.argv", "FLINK_INHERITED_LOGS=a=b\n", "--", "/usr/bin/java", "-Xmx1g", "Main")
    assert read_launch(good) == ({b"FLINK_INHERITED_LOGS": b"a=b\n"}, [b"/usr/bin/java", b"-Xmx1g", b"Main"])
    assert read_launch(_write(tmp_path / "short.argv", "FLINK_X=1", "--", "/usr/bin/java")) is None
    assert read_launch(_write(tmp_path / "none.argv", "FLINK_X=1", "java")) is None
    assert read_launch(tmp_path / "missing.argv") is None
