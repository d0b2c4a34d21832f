"""Pure helpers of the batch jobs: ranges, planning from DAG params, the verdict, priorities."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.patternalarm.batch.plan import PlanError, incident_entity, jdbc_url, plan_reconciliation, topics_from
from include.patternalarm.batch.priority import Features, score
from include.patternalarm.batch.reconcile import (
    ConfigError,
    DomainResult,
    ReconcileConfig,
    Verdict,
    incident_for,
    summary_text,
)
from include.patternalarm.batch.rescore import RescoreConfig, plan_rescoring
from include.patternalarm.batch.rules import BATCH_RULES, BatchRuleError, RuleSpec, batch_rule, default_margin_s
from include.patternalarm.batch.sql import matches_sql, parse_sql
from include.patternalarm.batch.timerange import RangeError, TimeRange, parse_instant, resolve_range
from include.patternalarm.rules import load_catalog

NOW = datetime(2026, 11, 26, 11, 7, 30, tzinfo=UTC)
JDBC = "jdbc:postgresql://127.0.0.1:5433/patternalarm"


# ---------------------------------------------------------------------------------------- ranges

def test_default_range_is_the_last_full_hour_after_the_settle_time() -> None:
    assert resolve_range(None, None, reference=NOW) == TimeRange(NOW.replace(hour=10, minute=0, second=0),
                                                                 NOW.replace(hour=11, minute=0, second=0))
    early = NOW.replace(minute=3)
    rng = resolve_range(None, None, reference=early, settle=timedelta(minutes=5))
    assert (rng.start.hour, rng.end.hour) == (9, 10)


def test_explicit_ranges() -> None:
    rng = resolve_range("2026-11-26T08:00:00Z", None, reference=NOW)
    assert rng.span == timedelta(hours=1)
    rng = resolve_range("2026-11-26T08:00:00+01:00", "2026-11-26T08:30:00+01:00", reference=NOW)
    assert rng.start.hour == 7 and rng.end.minute == 30
    assert len(rng.minutes()) == 30
    assert rng.with_margin(timedelta(seconds=61)).start == rng.start - timedelta(minutes=2)


@pytest.mark.parametrize(("start", "end", "message"), [
    ("2026-11-26T08:00:30Z", None, "whole minute"),
    ("2026-11-26T09:00:00Z", "2026-11-26T08:00:00Z", "after its start"),
    ("2026-11-26T11:00:00Z", "2026-11-26T12:00:00Z", "in the future"),
    ("2026-11-24T08:00:00Z", "2026-11-26T08:00:00Z", "at most"),
    ("yesterday", None, "not an ISO-8601"),
])
def test_bad_ranges_say_why(start, end, message) -> None:
    with pytest.raises(RangeError, match=message):
        resolve_range(start, end, reference=NOW)


def test_parse_instant_accepts_epoch_ms_and_naive_utc() -> None:
    assert parse_instant(1_800_000_000_000) == datetime.fromtimestamp(1_800_000_000, tz=UTC)
    assert parse_instant("2026-11-26T08:00:00") == datetime(2026, 11, 26, 8, tzinfo=UTC)


# ---------------------------------------------------------------------------------------- planning

def _plan(**params):
    return plan_reconciliation(params, reference=NOW, bootstrap="127.0.0.1:9092", jdbc=JDBC,
                               jdbc_user="patternalarm_control", load_catalog=load_catalog)


def test_plan_defaults_from_the_catalog() -> None:
    cfg = _plan(catalog_version=3)
    assert cfg.domains == ("payments", "gaming", "iot")
    assert {r.rule_id for r in cfg.rules} == set(BATCH_RULES)
    ttl_s = load_catalog().job_values["state_ttl_min"] * 60  # over-window rules read back one state TTL
    assert cfg.margin_s("payments") == max(2 * 1800, ttl_s) and cfg.margin_s("gaming") == 0
    assert cfg.margin_s("iot") == max(600, ttl_s)
    assert cfg.reconciles_alerts("payments") and not cfg.reconciles_alerts("gaming")
    assert cfg.rules_for("iot")[0].params["temperature_max"] == 150.0
    again = ReconcileConfig.from_json(cfg.to_json())
    assert again == cfg


def test_plan_skips_rule_versions_the_batch_does_not_implement() -> None:
    newest = _plan()  # catalog v4: out_of_range v2 is an adaptive Java detector, no batch twin
    assert {r.rule_id for r in newest.rules} == set(BATCH_RULES) - {"out_of_range"}
    assert not newest.reconciles_alerts("iot")
    with pytest.raises(PlanError, match="out_of_range version"):
        _plan(domains=["iot"], rules=["out_of_range"])


def test_plan_uses_each_domains_deployed_catalog_version() -> None:
    cfg = plan_reconciliation({"domains": ["payments", "iot"]}, reference=NOW, bootstrap="b", jdbc=JDBC,
                              jdbc_user="u", load_catalog=load_catalog, deployed_versions={"payments": 1, "iot": 2})
    versions = {r.rule_id: r.version for r in cfg.rules}
    assert versions["velocity"] == 1 and versions["out_of_range"] == 1
    newest = plan_reconciliation({"domains": ["payments"], "topics": {"payments": "side.p"}}, reference=NOW,
                                 bootstrap="b", jdbc=JDBC, jdbc_user="u", load_catalog=load_catalog,
                                 deployed_versions={"payments": 1})
    assert {r.rule_id: r.version for r in newest.rules}["velocity"] == 2  # a side topic: not the deployed job
    pinned = _plan(domains=["payments"], catalog_version=1)
    assert {r.rule_id: r.version for r in pinned.rules}["velocity"] == 1


def test_plan_re_detects_each_domain_with_the_overrides_its_job_ran_with() -> None:
    ran_with = {"payments": {"velocity": {"max_auths": 12}}, "iot": {"iot": {"temperature_max": 151.5}}}
    cfg = plan_reconciliation({"domains": ["payments", "iot"]}, reference=NOW, bootstrap="b", jdbc=JDBC,
                              jdbc_user="u", load_catalog=load_catalog, deployed_overrides=ran_with,
                              deployed_versions={"iot": 3})  # v4's out_of_range has no batch twin
    params = {r.rule_id: r.params for r in cfg.rules}
    assert params["velocity"]["max_auths"] == 12  # before: the catalog default, so every alert looked "spurious"
    assert params["out_of_range"]["temperature_max"] == 151.5
    explicit = plan_reconciliation({"domains": ["payments"], "rule_overrides": {"velocity": {"max_auths": 7}}},
                                   reference=NOW, bootstrap="b", jdbc=JDBC, jdbc_user="u", load_catalog=load_catalog,
                                   deployed_overrides=ran_with)
    assert {r.rule_id: r.params for r in explicit.rules}["velocity"]["max_auths"] == 7
    side = plan_reconciliation({"domains": ["payments"], "topics": {"payments": "side.p"}}, reference=NOW,
                               bootstrap="b", jdbc=JDBC, jdbc_user="u", load_catalog=load_catalog,
                               deployed_overrides=ran_with)
    default = load_catalog().rule("velocity").values["max_auths"]
    assert {r.rule_id: r.params for r in side.rules}["velocity"]["max_auths"] == default


def test_parameter_segments_cover_the_range_and_pick_the_longest() -> None:
    from types import SimpleNamespace

    from include.patternalarm.batch.runs import dominant, parameter_segments

    def rec(minute: int, overrides: dict) -> SimpleNamespace:
        return SimpleNamespace(requested_at=NOW.replace(minute=minute), version=2, overrides=overrides, job_id="j",
                               action="deploy")

    start, end = NOW.replace(minute=0), NOW.replace(minute=59)
    segments = parameter_segments([rec(0, {"velocity": {"max_auths": 9}}), rec(40, {})], start, end)
    assert [(s["from"].minute, s["to"].minute, s["overrides"]) for s in segments] == [
        (0, 40, {"velocity": {"max_auths": 9}}), (40, 59, {})]
    assert dominant(segments)["overrides"] == {"velocity": {"max_auths": 9}}
    assert dominant([]) is None


def test_plan_overrides_margin_rules_and_topics() -> None:
    cfg = _plan(domains=["payments"], margin_minutes=5, rule_overrides={"velocity": {"max_auths": 6}},
                rules=["velocity"], topics={"payments": "side.payments", "metrics": "side.metrics"})
    assert [r.rule_id for r in cfg.rules] == ["velocity"] and cfg.rules[0].params["max_auths"] == 6
    assert cfg.margin_s("payments") == 300
    assert cfg.topics["payments"] == "side.payments" and cfg.metrics_topic == "side.metrics"
    assert incident_entity("payments", cfg.topics) == "payments@side.payments"
    assert incident_entity("iot", cfg.topics) == "iot"


@pytest.mark.parametrize(("params", "message"), [
    ({"domains": []}, "non-empty"),
    ({"domains": ["chess"]}, "unknown"),
    ({"domains": ["iot", "iot"]}, "repeat"),
    ({"margin_minutes": -1}, "margin_minutes"),
    ({"margin_minutes": True}, "margin_minutes"),
    ({"settle_minutes": "5"}, "settle_minutes"),
    ({"rules": ["drift"]}, "cannot re-detect"),
    ({"rule_overrides": {"velocity": {"max_auths": "many"}}}, "max_auths"),
    ({"catalog_version": 99}, "not found"),
    ({"topics": {"chess": "x"}}, "unknown key"),
    ({"topics": {"payments": "bad topic!"}}, "not a Kafka topic"),
    ({"start": "2026-11-26T10:00:00Z", "end": "2026-11-26T10:00:00Z"}, "after its start"),
])
def test_plan_refuses_bad_params_clearly(params, message) -> None:
    with pytest.raises(PlanError, match=message):
        _plan(**params)


def test_jdbc_url_refuses_smuggled_options() -> None:
    assert jdbc_url("127.0.0.1", 5433, "patternalarm") == JDBC
    with pytest.raises(PlanError):
        jdbc_url("127.0.0.1/x?socketFactory=evil", 5433, "patternalarm")
    with pytest.raises(PlanError):
        jdbc_url("127.0.0.1", 5433, "db?ssl=false")


def test_config_validation() -> None:
    cfg = _plan()
    raw = json.loads(cfg.to_json())
    for key, value, message in [("run_id", "nope", "UUID"), ("jdbc_url", "postgres://x", "jdbc"),
                                ("domains", ["x"], "unknown domain")]:
        with pytest.raises(ConfigError, match=message):
            ReconcileConfig.from_dict({**raw, key: value})
    with pytest.raises(ConfigError, match="not JSON"):
        ReconcileConfig.from_json("{")


def test_topics_default_to_the_platform() -> None:
    assert topics_from(None)["payments"] == "events.payments"
    assert _plan().alerts_topic == "alerts"
    assert _plan(topics={"alerts": "side.alerts"}).alerts_topic == "side.alerts"


# ------------------------------------------------------------------------------------------- rules

def test_rule_specs_put_only_numbers_into_sql() -> None:
    with pytest.raises(BatchRuleError):
        RuleSpec("velocity", 1, "payments", "medium", {"window_s": "60); DROP TABLE x; --"})
    with pytest.raises(BatchRuleError):
        RuleSpec("velocity; --", 1, "payments", "medium", {})
    with pytest.raises(BatchRuleError, match="cannot re-detect"):
        batch_rule("aimbot")
    spec = RuleSpec("velocity", 3, "payments", "medium", {"max_auths": 4, "max_amount": 2500.0, "window_s": 60,
                                                          "state_ttl_s": 300})
    sql = matches_sql(spec, "input")
    assert "'velocity', '3'" in sql and "2500.0D" in sql
    assert "WITH" not in sql.upper().replace("WITHIN", "")
    assert "LEFT SEMI JOIN" in sql  # detection runs over the entities that can match only


def test_default_margin_is_twice_the_longest_window() -> None:
    specs = [RuleSpec("card_testing", 1, "payments", "high", {"window_s": 60, "small_amount_max": 2.0,
                                                                 "min_small_auths": 3, "large_amount_min": 500.0}),
             RuleSpec("structuring", 1, "payments", "high", {"window_s": 600, "reporting_threshold": 1e4,
                                                                "band_pct": 10.0, "min_deposits": 3})]
    assert default_margin_s(specs) == 1200
    assert default_margin_s(specs[:1]) == 600  # never below the state margin


def test_parse_sql_only_for_validated_domains() -> None:
    with pytest.raises(ValueError, match="gaming"):
        parse_sql("gaming", "raw", max_event_bytes=1, max_future_skew_s=1)


# ----------------------------------------------------------------------------------------- verdict

def _verdict(**outcomes_and_minutes) -> Verdict:
    rng = TimeRange(NOW.replace(hour=10, minute=0, second=0), NOW.replace(hour=11, minute=0, second=0))
    d = DomainResult("payments", rng.with_margin(timedelta(hours=1)), records_read=200, records_in_range=100,
                     alerts_reconciled=True, reported_total=100)
    for key, n in outcomes_and_minutes.items():
        (d.minutes if key in ("ok", "missing", "no_metrics", "excess") else d.outcomes)[key] = n
    d.by_rule = {"velocity": {"matched": 3, "missed": outcomes_and_minutes.get("missed", 0)}}
    d.examples = [{"outcome": "missed", "rule_id": "velocity", "entity": "c1", "alert_id": "a" * 64,
                   "reason": "the stream has no alert with this id"}] if outcomes_and_minutes.get("missed") else []
    return Verdict(rng, [d])


def test_verdict_passes_with_edges_and_excess_only() -> None:
    v = _verdict(matched=3, edge=2, ok=59, excess=1)
    assert v.passed and v.status == "passed"
    assert v.counts()["excess_minutes"] == 1
    assert "PASSED" in v.text() and "2 undecidable" in v.text()


@pytest.mark.parametrize("bad", [{"missed": 1}, {"spurious": 2}, {"missing": 1}, {"no_metrics": 1}])
def test_verdict_fails_on_missed_spurious_or_unaccounted_minutes(bad) -> None:
    v = _verdict(matched=3, ok=59, **bad)
    assert not v.passed and v.failing_domains == ["payments"]
    summary = v.as_dict()
    check, entity, severity, text, details = incident_for(summary, "payments", "run-1")
    assert (check, entity) == ("reconcile_detection", "payments")
    assert severity == ("high" if "spurious" in bad else "critical")
    assert details["run_id"] == "run-1" and "payments" in text
    assert "FAILED" in summary_text(json.loads(json.dumps(summary)))


# ------------------------------------------------------------------------------------------- priority

def _f(**kw) -> Features:
    return Features(incident_id=1, domain="payments", rule_id="velocity", entity="c1", severity="medium", **kw)


def test_dispositions_order_incidents() -> None:
    confirmed = score(_f(confirmed=2, other_alerts=2, other_rules=2))
    plain = score(_f())
    false_positive = score(_f(false_positives=2, other_alerts=2, other_rules=2))
    assert confirmed.priority > plain.priority > false_positive.priority
    assert confirmed.reasons[0]["factor"] == "confirmed_fraud" and confirmed.reasons[0]["points"] == 30
    assert any(r["factor"] == "false_positives" and r["points"] == -30 for r in false_positive.reasons)


def test_spend_deviation_and_first_seen() -> None:
    spike = score(_f(spend_recent=5000.0, spend_hourly_baseline=150.0, spend_baseline_events=30))
    assert spike.priority == 30 + 20
    assert "hourly average" in spike.reasons[0]["detail"]
    steady = score(_f(spend_recent=160.0, spend_hourly_baseline=150.0, spend_baseline_events=30))
    assert steady.priority == 30
    new = score(_f(spend_recent=900.0, spend_baseline_events=0))
    assert new.priority == 35


def test_priority_is_clamped_and_rule_record_counts_from_five() -> None:
    top = score(Features(1, "payments", "x", "e", "critical", alert_count=9, other_alerts=100, other_rules=5,
                         confirmed=9, rule_confirmed=50, spend_recent=1e6, spend_hourly_baseline=1.0,
                         spend_baseline_events=9))
    assert top.priority == 100 and len(top.reasons) == 4
    bottom = score(Features(1, "payments", "x", "e", "low", false_positives=5, benign=5, rule_false_positives=50))
    assert bottom.priority == 0
    assert score(_f(rule_confirmed=3, rule_false_positives=1)).priority == 30
    assert score(_f(rule_confirmed=8, rule_false_positives=2)).priority == 36
    with pytest.raises(ValueError, match="severity"):
        score(Features(1, "payments", "x", "e", "urgent"))


def test_features_from_a_row_ignore_nulls_and_extra_columns() -> None:
    f = Features.from_row({"incident_id": 7, "domain": "iot", "rule_id": "out_of_range", "entity": "d1",
                           "severity": "high", "alert_count": 2, "confirmed": None, "last_seen_ms": 1})
    assert f.confirmed == 0 and f.alert_count == 2


def test_rescore_plan() -> None:
    cfg = plan_rescoring({"domains": ["payments"], "since": "2026-11-26T00:00:00Z", "history_days": 7,
                          "topics": {"payments": "side.payments"}}, reference=NOW, bootstrap="b", jdbc=JDBC,
                         jdbc_user="u")
    assert cfg.payments_topic == "side.payments" and cfg.history_days == 7
    assert RescoreConfig.from_json(cfg.to_json()) == cfg
    for params, message in [({"domains": ["x"]}, "unknown"), ({"history_days": 0}, "history_days"),
                            ({"since": "2026-11-26T10:00:00Z", "until": "2026-11-26T09:00:00Z"}, "after since"),
                            ({"spend_hours": "12"}, "spend_hours")]:
        with pytest.raises(PlanError, match=message):
            plan_rescoring(params, reference=NOW, bootstrap="b", jdbc=JDBC, jdbc_user="u")


# ---------------------------------------------------------------------------------------- operator

def test_package_zip_ships_the_include_package(tmp_path: Path) -> None:
    from patternalarm_airflow.operators.spark import build_package_zip

    repo_include = Path(__file__).resolve().parents[3] / "include"
    names = zipfile.ZipFile(build_package_zip(repo_include, tmp_path / "p.zip")).namelist()
    for needed in ("include/__init__.py", "include/patternalarm/__init__.py", "include/patternalarm/batch/__init__.py",
                   "include/patternalarm/batch/rules.py", "include/spark/common.py", "include/patternalarm/topics.py"):
        assert needed in names
    assert not [n for n in names if not n.endswith(".py") or "__pycache__" in n]
    with pytest.raises(FileNotFoundError):
        build_package_zip(tmp_path, tmp_path / "q.zip")
