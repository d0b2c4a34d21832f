"""Rendering the Flink SQL jobs from the catalog: placeholders, intervals, statement sets, naming."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from include.patternalarm.rules import JobTopics, RuleError, load_catalog, pipeline_name, render_job
from include.patternalarm.rules.catalog import RULES_DIR
from include.patternalarm.rules.render import _literal, fill, interval, split_statements, sql_files
from include.patternalarm.topics import DOMAINS


@pytest.mark.parametrize("domain", DOMAINS)
def test_each_domain_renders_one_statement_set_reading_its_topic_once(domain: str) -> None:
    catalog = load_catalog()
    job = render_job(catalog, domain, bootstrap="127.0.0.1:9092", parallelism=2)
    script = job.script()
    assert not re.search(r"\{\{\s*[a-z_.]+\s*\}\}", script), "an unfilled placeholder"
    assert job.name == pipeline_name(domain) == f"patternalarm-{domain}"
    assert job.settings["parallelism.default"] == "2" and job.settings["table.local-time-zone"] == "UTC"
    # chained operators hand rows on without a deep copy per consumer (docs/performance.md)
    assert job.settings["pipeline.object-reuse"] == "true"
    assert sum("CREATE TEMPORARY TABLE events_raw" in d for d in job.ddl) == 1
    assert f"'topic' = 'events.{domain}'" in script and f"patternalarm-detect-{domain}" in script
    # routing: dead letters and late events (one sink), metrics; then one alerts INSERT per rule
    assert len(job.inserts) == 2 + len(catalog.rules_for(domain)) == 2 + len(job.rules)
    # parsed once, by the event format, against the domain's schema
    assert "'value.format' = 'patternalarm-event'" in script and "JSON_VALUE" not in script
    assert sum(i.count("INSERT INTO alerts_sink") for i in job.inserts) == len(job.rules)
    assert job.statement_set.startswith("EXECUTE STATEMENT SET\nBEGIN\n") and job.statement_set.endswith("END")


def test_parameters_and_topics_land_in_the_sql() -> None:
    catalog = load_catalog(overrides={"card_testing": {"min_small_auths": 4, "window_s": 1800},
                                      "job": {"watermark_delay_ms": 250}})
    topics = JobTopics(source="t.src", alerts="t.alerts", dlq="t.dlq", late="t.late", metrics="t.metrics")
    job = render_job(catalog, "payments", bootstrap="b:1", topics=topics, rules=["card_testing"],
                     startup_mode="earliest-offset", auto_offset_reset="earliest", consumer_group="g1")
    script = job.script()
    assert "PATTERN (S{4,} L) WITHIN INTERVAL '0 00:30:00' DAY TO SECOND" in script
    assert "INTERVAL '0.250' SECOND" in script
    for text in ("'t.src'", "'t.alerts'", "'t.dlq'", "'t.late'", "'t.metrics'", "'b:1'", "'g1'", "'earliest-offset'"):
        assert text in script
    assert job.rules == ["card_testing"]
    assert ("SHA256(CONCAT_WS('|', 'card_testing', '1',\n      REPLACE(REPLACE(entity, '\\', '\\\\'), '|', '\\|'), "
            "REPLACE(REPLACE(first_event_id, '\\', '\\\\'), '|', '\\|')))") in script


def test_invalid_job_options_are_refused() -> None:
    catalog = load_catalog()
    with pytest.raises(RuleError, match="parallelism must be at least 1"):
        render_job(catalog, "iot", bootstrap="b", parallelism=0)
    with pytest.raises(RuleError, match="startup mode must be one of"):
        render_job(catalog, "iot", bootstrap="b", startup_mode="yesterday")
    with pytest.raises(RuleError, match="rule 'velocity' belongs to domain payments, not iot"):
        render_job(catalog, "iot", bootstrap="b", rules=["velocity"])


def test_quoting_keeps_strings_out_of_sql_text() -> None:
    job = render_job(load_catalog(), "gaming", bootstrap="evil' , 'x' = 'y", rules=[])
    assert "'evil'' , ''x'' = ''y'" in job.script()


def test_interval_and_literals() -> None:
    assert interval(60) == "INTERVAL '0 00:01:00' DAY TO SECOND"
    assert interval(90061) == "INTERVAL '1 01:01:01' DAY TO SECOND"
    assert _literal(3) == "3" and _literal(2.0) == "2.0" and _literal(1e-7) == "0.0000001"
    assert "e" not in _literal(1e20)


def test_fill_names_unknown_placeholders() -> None:
    assert fill("a {{ x }} b {{ job.y }}", {"x": "1", "job.y": "2"}, "f") == "a 1 b 2"
    with pytest.raises(RuleError, match=r"rules/x.sql: unknown placeholder \{\{ nope \}\}"):
        fill("{{ nope }}", {}, "rules/x.sql")


def test_split_statements_ignores_comment_only_pieces() -> None:
    sql = "-- header\nCREATE TEMPORARY VIEW a AS SELECT 1;\n-- only a comment;\n\nSELECT 2\n"
    assert split_statements(sql) == ["-- header\nCREATE TEMPORARY VIEW a AS SELECT 1", "SELECT 2"]


def _catalog_with_rule(tmp_path: Path, sql: str) -> Path:
    rule_file = tmp_path / "r.sql"
    rule_file.write_text(sql)
    data = yaml.safe_load((RULES_DIR / "catalog-v1.yaml").read_text())
    data["rules"].append({"id": "my_rule", "version": 1, "domain": "payments", "severity": "low",
                          "description": "t", "sql": str(rule_file), "params": {}})
    (tmp_path / "catalog-v1.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


@pytest.mark.parametrize(("sql", "message"), [
    ("CREATE TEMPORARY VIEW other AS SELECT 1;\nSELECT 1", "view 'other' must be named my_rule_<name>"),
    ("SELECT 1;\nCREATE TEMPORARY VIEW my_rule_x AS SELECT 1", "the last statement must be the SELECT"),
    ("INSERT INTO x SELECT 1;\nSELECT 1", "only CREATE TEMPORARY VIEW may precede the final SELECT"),
    ("SELECT {{ missing }}", "unknown placeholder"),
])
def test_rule_files_must_follow_the_conventions(tmp_path: Path, sql: str, message: str) -> None:
    catalog = load_catalog(rules_dir=_catalog_with_rule(tmp_path, sql))
    with pytest.raises(RuleError) as excinfo:
        render_job(catalog, "payments", bootstrap="b", rules=["my_rule"])
    assert message in str(excinfo.value) and "my_rule" in str(excinfo.value)


def test_every_sql_file_comments_its_pattern() -> None:
    for path in sql_files(load_catalog()):
        text = path.read_text()
        assert text.lstrip().startswith("--"), f"{path.name}: starts with a comment"
        if "PATTERN (" in text:
            before = text[:text.index("PATTERN (")].rstrip().splitlines()[-1].strip()
            assert before.startswith("--"), f"{path.name}: PATTERN has a -- comment"
            define = text[text.index("DEFINE"):]
            assert "--" in define or "-- " in text[text.index("PATTERN ("):text.index("DEFINE")], path.name
