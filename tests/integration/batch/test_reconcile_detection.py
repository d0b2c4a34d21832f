"""reconcile_detection end to end: simulate → Flink → sink → alerts table; then the DAG (plan →
SparkSubmitOperator → evaluate) judges the stream against its own Spark re-detection."""

from __future__ import annotations

from typing import Any

import pytest

from include.patternalarm.settings import Settings
from tests.integration.batch.conftest import (
    DOMAINS,
    RECONCILED_RULES,
    Pipeline,
    Simulated,
    db,
    iso,
    run_dag,
)
from tests.support import unique


def _conf(pipeline: Pipeline, sim: Simulated, label: str) -> dict[str, Any]:
    return {"start": iso(sim.start), "end": iso(sim.end), "domains": list(DOMAINS), "topics": pipeline.dag_topics(),
            "label": label}


def _run_row(settings: Settings, label: str) -> dict[str, Any]:
    with db(settings, "reporting") as conn:
        cur = conn.execute("""SELECT run_id, status, matched, missed, spurious, edge, incomplete_minutes,
                                     excess_minutes, records_in_range, incident_ids, summary
                              FROM reconciliation_runs WHERE label = %s""", (label,))
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    assert len(rows) == 1, f"expected one run labelled {label}, found {len(rows)}"
    return rows[0]


def _diffs(settings: Settings, run_id: Any, outcome: str) -> set[str]:
    with db(settings, "reporting") as conn:
        rows = conn.execute("SELECT alert_id FROM reconciliation_diffs WHERE run_id = %s AND outcome = %s",
                            (run_id, outcome)).fetchall()
    return {r[0] for r in rows}


def test_after_a_simulated_run_nothing_is_missed_or_spurious(pipeline: Pipeline, simulated: Simulated) -> None:
    settings = pipeline.settings
    label = unique("it-reconcile-clean")
    out = run_dag(settings, "reconcile_detection", _conf(pipeline, simulated, label))
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    log = out.stdout + out.stderr
    assert "PASSED — 0 missed, 0 spurious" in log  # the summary is in the task log
    assert settings.secret("db_control_password") not in log

    run = _run_row(settings, label)
    assert run["status"] == "passed"
    assert (run["missed"], run["spurious"], run["incomplete_minutes"]) == (0, 0, 0)
    assert run["matched"] == len(simulated.alerts) == len(simulated.fires)
    assert _diffs(settings, run["run_id"], "matched") == {a["alert_id"] for a in simulated.alerts}
    per_rule = {r: sum(d["by_rule"].get(r, {}).get("matched", 0) for d in run["summary"]["domains"].values())
                for r in RECONCILED_RULES}
    assert all(per_rule[r] >= 1 for r in RECONCILED_RULES), per_rule

    # completeness: every minute accounted for, and the batch validation agrees with the stream's
    with db(settings, "reporting") as conn:
        minutes = conn.execute("""SELECT domain, status, topic_records, reported_total, dead_lettered, batch_invalid
                                  FROM reconciliation_completeness WHERE run_id = %s""", (run["run_id"],)).fetchall()
    assert len(minutes) == len(DOMAINS) * int((simulated.end - simulated.start).total_seconds() // 60)
    assert {m[1] for m in minutes} == {"ok"}
    assert sum(m[2] for m in minutes) == run["records_in_range"] == sum(m[3] for m in minutes)
    assert all(m[4] == m[5] for m in minutes), "dead letters: stream and batch validation disagree"
    assert sum(m[4] for m in minutes) > 0, "the simulation sent bad events: some must be dead-lettered"


def test_deleted_alerts_are_reported_as_exactly_those_missed(pipeline: Pipeline, simulated: Simulated) -> None:
    settings = pipeline.settings
    by_rule: dict[str, list[str]] = {}
    for a in simulated.alerts:
        by_rule.setdefault(a["rule_id"], []).append(a["alert_id"])
    chosen = sorted({by_rule["card_testing"][0], by_rule["structuring"][0], by_rule["velocity"][0]})
    with db(settings, "owner") as conn:
        deleted = conn.execute("DELETE FROM alerts WHERE alert_id = ANY(%s)", (chosen,)).rowcount
    assert deleted == 3

    label = unique("it-reconcile-deleted")
    try:
        out = run_dag(settings, "reconcile_detection", _conf(pipeline, simulated, label))
        assert out.returncode != 0, "a non-empty diff must fail the run"
        assert "DagRun failed" in out.stdout + out.stderr
        run = _run_row(settings, label)
        assert (run["status"], run["missed"], run["spurious"]) == ("failed", 3, 0)
        assert _diffs(settings, run["run_id"], "missed") == set(chosen)
        assert run["matched"] == len(simulated.alerts) - 3

        # …and opened a platform incident per failing domain (entity names the side topic): the deleted
        # alerts are all payments alerts, so iot (complete, nothing missed) opens none
        entities = [f"payments@{pipeline.topics['payments']}"]
        with db(settings, "reporting") as conn:
            incidents = conn.execute("""SELECT incident_id, entity, severity, details FROM incidents
                                        WHERE domain = 'platform' AND rule_id = 'reconcile_detection'
                                          AND entity = ANY(%s) AND status <> 'resolved'""", (entities,)).fetchall()
        assert sorted(i[1] for i in incidents) == sorted(entities)
        assert all(i[2] == "critical" and i[3]["run_id"] == str(run["run_id"]) for i in incidents)
        assert sorted(run["incident_ids"]) == sorted(i[0] for i in incidents)
    finally:
        with db(settings, "control") as conn:
            for d in DOMAINS:
                conn.execute("SELECT resolve_platform_incident('reconcile_detection', %s, 'test cleanup')",
                             (f"{d}@{pipeline.topics[d]}",))


@pytest.mark.parametrize(("conf", "message"), [
    ({"domains": ["chess"]}, "chess"),                                        # typed Param: refused at trigger
    ({"start": "2026-11-26T10:00:30Z"}, "must be on a whole minute"),         # the plan task explains it
])
def test_bad_params_are_refused_with_a_clear_message(stack_settings: Settings, conf: dict, message: str) -> None:
    out = run_dag(stack_settings, "reconcile_detection", conf, timeout=300)
    assert out.returncode != 0
    assert message in out.stdout + out.stderr
    assert "Spark-Submit cmd" not in out.stdout + out.stderr, "no Spark job for invalid params"
