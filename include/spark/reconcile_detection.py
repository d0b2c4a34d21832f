# ruff: noqa: S608 - the f-strings only splice constant column lists; values are bound parameters
"""Reconcile the detection stream with an independent batch pass over the same Kafka records.

    spark-submit ... include/spark/reconcile_detection.py --config '<ReconcileConfig JSON>'
    (database password in $PATTERNALARM_SPARK_JDBC_PASSWORD)

For every domain of the run:
1. completeness — reads the domain topic's records whose Kafka timestamp lies in the range (plus
   a margin before it) and compares, per minute, the records received with what the detection
   job reported on ``detection.metrics`` (processed + dead-lettered + late + duplicates);
2. alerts (payments, iot) — validates the records as the stream does, drops what the stream wrote
   to ``events.late``, deduplicates event ids, re-detects the rules in Spark SQL
   (``include.patternalarm.batch.rules``), computes the same ``alert_id``s and diffs them with the
   ``alerts`` table read over JDBC: matched / missed / spurious / edge.
Results go to ``reconciliation_runs`` / ``reconciliation_diffs`` / ``reconciliation_completeness``
in one transaction; the summary is printed (task log). The job exits 0 when it ran, whatever the
verdict: the DAG fails the run on a non-empty diff.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from include.patternalarm.batch.reconcile import (
    FAILING_OUTCOMES,
    OUTCOMES,
    ConfigError,
    DomainResult,
    ReconcileConfig,
    Verdict,
)
from include.patternalarm.batch.rules import batch_rule
from include.patternalarm.batch.sql import (
    PARSE_FIELDS,
    batch_alerts_sql,
    completeness_sql,
    diff_sql,
    matches_sql,
    metrics_sql,
    parse_sql,
    relevant_input_sql,
    rule_events_sql,
    stream_scope_sql,
)
from include.spark.common import Jdbc, JobError, jdbc_password, read_table, read_topic, session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Stream alerts are candidates when detected no earlier than this before the read window
#: (clock skew between the producers, Kafka and Flink).
DETECTED_SKEW_MS = 5 * 60 * 1000
EXAMPLES = 20


def _view(df: Any, name: str) -> str:
    df.createOrReplaceTempView(name)
    return name


def _union(frames: list[Any]) -> Any:
    result = frames[0]
    for df in frames[1:]:
        result = result.unionByName(df)
    return result


def load_metrics(spark: SparkSession, cfg: ReconcileConfig) -> str:
    """``detection.metrics`` (a small topic) read whole and parsed: view ``metrics``."""
    raw = read_topic(spark, cfg.bootstrap, cfg.metrics_topic, None, None)
    _view(raw, "metrics_raw")
    return _view(spark.sql(metrics_sql("metrics_raw")).cache(), "metrics")


def late_offsets(spark: SparkSession, cfg: ReconcileConfig, domain: str, start_ms: int) -> str:
    """(p, o) of the domain's records the stream wrote to events.late (written after the original)."""
    from pyspark.sql import functions as F

    raw = read_topic(spark, cfg.bootstrap, cfg.late_topic, start_ms, None)
    fields = F.json_tuple(F.col("raw"), "topic", "partition", "offset").alias("topic", "partition", "offset")
    late = (raw.select(fields)
            .where(F.col("topic") == cfg.topics[domain])
            .select(F.expr("try_cast(partition AS INT)").alias("p"), F.expr("try_cast(offset AS BIGINT)").alias("o"))
            .where("p IS NOT NULL AND o IS NOT NULL").distinct())
    return _view(late, f"late_{domain}")


def stream_candidates(spark: SparkSession, cfg: ReconcileConfig, domain: str, rule_ids: list[str],
                      since_ms: int, password: str) -> str:
    """Alerts of the domain's reconciled rules detected since the read window opened that the
    incident sink read from the run's alerts topic (JDBC)."""
    from pyspark.sql import functions as F

    since = F.timestamp_millis(F.lit(since_ms - DETECTED_SKEW_MS))
    alerts = read_table(spark, cfg.jdbc_url, cfg.jdbc_user, password, "alerts")
    df = (alerts.where((F.col("domain") == domain) & F.col("rule_id").isin(rule_ids) & (F.col("detected_at") >= since)
                       & (F.col("source_topic") == cfg.alerts_topic))
          .select("alert_id", "rule_id", "rule_version", "entity",
                  F.unix_millis("detected_at").alias("detected_at_ms"),
                  F.unix_millis("first_event_time").alias("first_event_ms"),
                  F.unix_millis("last_event_time").alias("last_event_ms"),
                  F.from_json("evidence", "struct<event_ids: array<string>>").getField("event_ids").alias("event_ids")))
    return _view(df, f"stream_raw_{domain}")


def reconcile_domain(spark: SparkSession, cfg: ReconcileConfig, domain: str,
                     password: str) -> tuple[DomainResult, list[dict[str, Any]], list[dict[str, Any]]]:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    rr = cfg.read_range(domain)
    result = DomainResult(domain=domain, read_range=rr)
    timings = result.timings
    mark = [time.monotonic()]

    def _lap() -> float:
        now = time.monotonic()
        elapsed, mark[0] = round(now - mark[0], 1), now
        return elapsed

    raw = read_topic(spark, cfg.bootstrap, cfg.topics[domain], rr.start_ms, rr.end_ms)
    _view(raw, f"raw_{domain}")
    validated = domain in PARSE_FIELDS
    if validated:
        records = spark.sql(parse_sql(domain, f"raw_{domain}", max_event_bytes=cfg.max_event_bytes,
                                      max_future_skew_s=cfg.max_future_skew_s))
    else:  # completeness only: no need to parse the values
        records = raw.select("p", "o", "kafka_ts_ms", F.expr("kafka_ts_ms - pmod(kafka_ts_ms, 60000)")
                             .alias("kafka_minute_ms"))
    records = records.persist(StorageLevel.MEMORY_AND_DISK)
    _view(records, f"records_{domain}")
    counts = records.agg(F.count(F.lit(1)).alias("n"),
                         F.count_if((F.col("kafka_ts_ms") >= cfg.range.start_ms)
                                    & (F.col("kafka_ts_ms") < cfg.range.end_ms)).alias("in_range")).first()
    result.records_read, result.records_in_range = int(counts["n"]), int(counts["in_range"])
    timings["read_parse"] = _lap()

    minutes = [r.asDict() for r in spark.sql(completeness_sql(
        domain, f"records_{domain}", "metrics", cfg.range.start_ms, cfg.range.end_ms, validated=validated)).collect()]
    for m in minutes:
        result.minutes[m["status"]] += 1
        result.reported_total += int(m["reported_total"])
    timings["completeness"] = _lap()

    diffs: list[dict[str, Any]] = []
    specs = cfg.rules_for(domain)
    if validated and specs:
        result.alerts_reconciled = True
        late = late_offsets(spark, cfg, domain, rr.start_ms)
        events = spark.sql(rule_events_sql(f"records_{domain}", late)).persist(StorageLevel.MEMORY_AND_DISK)
        _view(events, f"events_{domain}")
        result.rule_events = events.count()
        timings["rule_events"] = _lap()
        # 1. detection: each rule over the entities that can match at all (a cheap pre-filter)
        inputs, matches = {}, []
        for spec in specs:
            rule = batch_rule(spec.rule_id)
            inputs[spec.rule_id] = _view(spark.sql(rule.input_sql(spec, f"events_{domain}")), f"in_{spec.rule_id}")
            matches.append(spark.sql(matches_sql(spec, inputs[spec.rule_id])))
        # materialised (lineage cut): joined several times below, and Spark 4.1's CTE inlining fails on
        # plans that combine several of these queries
        _view(_union(matches).localCheckpoint(), f"matches_{domain}")
        timings["detect"] = _lap()
        # 2. the stream's alerts (JDBC)
        candidates = stream_candidates(spark, cfg, domain, [s.rule_id for s in specs], rr.start_ms, password)
        _view(spark.table(candidates).localCheckpoint(), candidates)
        timings["stream_read"] = _lap()
        # 3. certainty, only for the entities that have an alert on either side
        _view(spark.sql(f"""SELECT DISTINCT rule_id, entity FROM matches_{domain}
                            UNION SELECT DISTINCT rule_id, entity FROM {candidates}""").localCheckpoint(),
              f"alerted_{domain}")
        certainty = []
        for spec in specs:
            rule = batch_rule(spec.rule_id)
            relevant = _view(spark.sql(relevant_input_sql(inputs[spec.rule_id], spec.rule_id, f"alerted_{domain}")),
                             f"rel_{spec.rule_id}")
            cert = spark.sql(rule.certainty_sql(spec, relevant, rr.start_ms, cfg.horizon_ms(domain)))
            certainty.append(cert.select(F.lit(spec.rule_id).alias("rule_id"), "id", "certain"))
        _view(_union(certainty).localCheckpoint(), f"certainty_{domain}")
        _view(spark.sql(batch_alerts_sql(f"matches_{domain}", f"certainty_{domain}")), f"batch_{domain}")
        timings["certainty"] = _lap()
        # 4. the stream's alerts located in the read window, then the diff
        scope = spark.sql(stream_scope_sql(candidates, f"events_{domain}", f"certainty_{domain}"))
        _view(scope.localCheckpoint(), f"stream_{domain}")
        timings["stream_scope"] = _lap()
        diffs = [r.asDict() for r in spark.sql(diff_sql(domain, f"batch_{domain}", f"stream_{domain}",
                                                        cfg.range.start_ms, cfg.range.end_ms)).collect()]
        timings["diff"] = _lap()
        for spec in specs:
            result.by_rule[spec.rule_id] = {o: 0 for o in OUTCOMES}
        for d in diffs:
            result.outcomes[d["outcome"]] += 1
            result.by_rule.setdefault(d["rule_id"], {o: 0 for o in OUTCOMES})[d["outcome"]] += 1
        bad = sorted((d for d in diffs if d["outcome"] in FAILING_OUTCOMES), key=lambda d: d["received_ms"] or 0)
        result.examples = [{"outcome": d["outcome"], "rule_id": d["rule_id"], "entity": d["entity"],
                            "alert_id": d["alert_id"], "reason": json.loads(d["detail"]).get("reason")}
                           for d in bad[:EXAMPLES]]
        events.unpersist()
    records.unpersist()
    for m in minutes:
        m["batch_invalid"] = None if m["batch_invalid"] is None else int(m["batch_invalid"])
    return result, diffs, minutes


_DIFF_COLUMNS = """domain text, rule_id text, rule_version integer, entity text, alert_id text, outcome text,
    side text, first_event_id text, completing_event_id text, first_event_ms bigint, last_event_ms bigint,
    received_ms bigint, detail jsonb"""
_MINUTE_COLUMNS = """domain text, minute_ms bigint, topic_records bigint, processed bigint, dead_lettered bigint,
    late bigint, duplicates bigint, reported_total bigint, metrics_records integer, batch_invalid bigint,
    status text"""


def _ts(column: str) -> str:
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE to_timestamp({column} / 1000.0) END"


def write_results(jdbc: Jdbc, cfg: ReconcileConfig, verdict: Verdict, diffs: list[dict[str, Any]],
                  minutes: list[dict[str, Any]], elapsed_s: float) -> None:
    """Replace this run's rows (a retried job writes them again) and record the verdict, atomically."""
    summary = {**verdict.as_dict(), "elapsed_s": round(elapsed_s, 1)}
    counts = verdict.counts()
    for d in diffs:
        d["detail"] = json.loads(d["detail"]) if isinstance(d.get("detail"), str) else d.get("detail")
    read_start = min((cfg.read_range(d).start for d in cfg.domains), default=cfg.range.start)
    with jdbc.transaction() as conn:
        Jdbc.execute(conn, """
            INSERT INTO reconciliation_runs (run_id, range_start, range_end, read_start, domains, rules, status)
            VALUES (?::uuid, ?::timestamptz, ?::timestamptz, ?::timestamptz,
                    ARRAY(SELECT jsonb_array_elements_text(?::jsonb)), ?::jsonb, 'running')
            ON CONFLICT (run_id) DO NOTHING""",
            [cfg.run_id, cfg.range.start.isoformat(), cfg.range.end.isoformat(), read_start.isoformat(),
             list(cfg.domains), [r.as_dict() for r in cfg.rules]])
        Jdbc.execute(conn, "DELETE FROM reconciliation_diffs WHERE run_id = ?::uuid", [cfg.run_id])
        Jdbc.execute(conn, "DELETE FROM reconciliation_completeness WHERE run_id = ?::uuid", [cfg.run_id])
        Jdbc.execute(conn, f"""
            INSERT INTO reconciliation_diffs (run_id, domain, rule_id, rule_version, entity, alert_id, outcome, side,
                first_event_id, completing_event_id, first_event_time, last_event_time, received_at, detail)
            SELECT ?::uuid, x.domain, x.rule_id, x.rule_version, x.entity, x.alert_id, x.outcome, x.side,
                   x.first_event_id, x.completing_event_id, {_ts('x.first_event_ms')}, {_ts('x.last_event_ms')},
                   {_ts('x.received_ms')}, coalesce(x.detail, '{{}}'::jsonb)
            FROM jsonb_to_recordset(?::jsonb) AS x({_DIFF_COLUMNS})""", [cfg.run_id, diffs])
        Jdbc.execute(conn, f"""
            INSERT INTO reconciliation_completeness (run_id, domain, minute, topic_records, processed, dead_lettered,
                late, duplicates, reported_total, metrics_records, batch_invalid, status)
            SELECT ?::uuid, x.domain, {_ts('x.minute_ms')}, x.topic_records, x.processed, x.dead_lettered, x.late,
                   x.duplicates, x.reported_total, x.metrics_records, x.batch_invalid, x.status
            FROM jsonb_to_recordset(?::jsonb) AS x({_MINUTE_COLUMNS})""", [cfg.run_id, minutes])
        Jdbc.execute(conn, """
            UPDATE reconciliation_runs
               SET status = ?, finished_at = now(), matched = ?, missed = ?, spurious = ?, edge = ?,
                   incomplete_minutes = ?, excess_minutes = ?, records_in_range = ?, records_read = ?,
                   summary = ?::jsonb, error = NULL
             WHERE run_id = ?::uuid""",
            [verdict.status, counts["matched"], counts["missed"], counts["spurious"], counts["edge"],
             counts["incomplete_minutes"], counts["excess_minutes"], counts["records_in_range"],
             counts["records_read"], summary, cfg.run_id])


def run(cfg: ReconcileConfig) -> Verdict:
    password = jdbc_password()
    started = time.monotonic()
    spark = session(f"patternalarm-reconcile-{cfg.run_id[:8]}")
    load_metrics(spark, cfg)
    results, all_diffs, all_minutes = [], [], []
    for domain in cfg.domains:
        t0 = time.monotonic()
        result, diffs, minutes = reconcile_domain(spark, cfg, domain, password)
        print(f"[reconcile] {domain}: {result.records_read:,} records read, {len(diffs)} alerts compared "
              f"in {time.monotonic() - t0:.1f}s ({', '.join(f'{k} {v}s' for k, v in result.timings.items())})",
              flush=True)
        results.append(result)
        all_diffs.extend(diffs)
        all_minutes.extend(minutes)
    verdict = Verdict(range=cfg.range, domains=results)
    elapsed = time.monotonic() - started
    write_results(Jdbc(spark, cfg.jdbc_url, cfg.jdbc_user, password), cfg, verdict, all_diffs, all_minutes, elapsed)
    print(verdict.text(), flush=True)
    print(f"[reconcile] run {cfg.run_id} {verdict.status} in {elapsed:.1f}s", flush=True)
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="ReconcileConfig as JSON")
    args = parser.parse_args(argv)
    try:
        cfg = ReconcileConfig.from_json(args.config)
        run(cfg)
    except (ConfigError, JobError) as exc:
        print(f"[reconcile] error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
