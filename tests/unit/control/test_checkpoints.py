"""What retained-checkpoint cleanup keeps and deletes (pure decision), and finding a job's newest checkpoint."""

from __future__ import annotations

from pathlib import Path

from include.patternalarm.control.checkpoints import Retained, latest_checkpoint, local_dir, plan_cleanup

NOW = 1_000_000.0
HOUR = 3600.0
RUNNING, NEWEST, OLD = "a" * 32, "b" * 32, "c" * 32


def item(kind: str, job: str, age_s: float, name: str | None = None) -> Retained:
    base = Path("/data/flink/checkpoints" if kind == "checkpoints" else "/data/flink/savepoints")
    return Retained(base / (name or job), kind, job if kind == "checkpoints" else job[:6], 1000, NOW - age_s)


def test_plan_keeps_what_healing_and_rollback_need_and_deletes_the_rest() -> None:
    running = item("checkpoints", RUNNING, 5 * HOUR)
    newest = item("checkpoints", NEWEST, 5 * HOUR)
    orphan = item("checkpoints", OLD, 5 * HOUR)
    young = item("checkpoints", "d" * 32, 60)
    rollback = item("savepoint", "e" * 32, 5 * HOUR, "savepoint-eeeeee-0123456789ab")
    stale = item("savepoint", "f" * 32, 5 * HOUR, "savepoint-ffffff-0123456789ab")
    plan = plan_cleanup([running, newest, orphan, young, rollback, stale], active_jobs=[RUNNING],
                        newest_jobs=[NEWEST], referenced=["file:/data/flink/savepoints/savepoint-eeeeee-0123456789ab",
                                                          "s3://elsewhere/x"], now=NOW, min_age_s=HOUR)
    assert {r.path.name for r in plan.delete} == {OLD, "savepoint-ffffff-0123456789ab"}
    assert plan.freed_bytes == 2000
    assert set(plan.keep) == {str(running.path), str(newest.path), str(young.path), str(rollback.path)}


def test_a_checkpoint_referenced_inside_a_job_directory_keeps_it() -> None:
    orphan = item("checkpoints", OLD, 5 * HOUR)
    plan = plan_cleanup([orphan], active_jobs=[], newest_jobs=[], now=NOW,
                        referenced=[f"file:/data/flink/checkpoints/{OLD}/chk-12"])
    assert not plan.delete


def test_latest_complete_checkpoint(tmp_path: Path) -> None:
    for n, complete in ((3, True), (12, True), (13, False), (9, True)):
        (tmp_path / f"chk-{n}").mkdir()
        if complete:
            (tmp_path / f"chk-{n}" / "_metadata").write_bytes(b"m")
    (tmp_path / "shared").mkdir()
    assert latest_checkpoint(tmp_path) == tmp_path / "chk-12"
    assert latest_checkpoint(tmp_path / "missing") is None


def test_local_dir() -> None:
    assert local_dir("file:/a/b") == Path("/a/b") and local_dir("file:///a/b") == Path("/a/b")
    assert local_dir("/a/b") == Path("/a/b") and local_dir("s3://bucket/x") is None
