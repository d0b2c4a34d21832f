# ruff: noqa: S608 - the f-strings only splice constant column lists; values are bound parameters
"""Rescore every open incident from the entity's history: a 0–100 priority with its top reasons.

    spark-submit ... include/spark/rescore_incidents.py --config '<RescoreConfig JSON>'
    (database password in $PATTERNALARM_SPARK_JDBC_PASSWORD)

Features (``include.patternalarm.batch.priority``), per open incident:
- the entity's other alerts in the history window (``alerts``, JDBC) and how many rules raised them;
- the entity's earlier incidents by disposition (confirmed fraud raises, false positives lower) and
  the rule's record over all entities (``incidents``, JDBC);
- payments: money the entity moved (auth / payout / deposit amounts, ``events.payments`` read with
  Spark's Kafka source over the last ``spend_hours``) in the hour up to the incident's last event vs
  its hourly average over the rest of that window.
The scores go to ``incident_scores`` (with every feature) and to the incidents through
``set_incident_priorities()`` (one ``priority_changed`` timeline event per change), in one transaction.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from include.patternalarm.batch.plan import PlanError
from include.patternalarm.batch.priority import Features, score
from include.patternalarm.batch.rescore import RECENT_MINUTES, RescoreConfig
from include.patternalarm.batch.sql import parse_sql
from include.spark.common import Jdbc, JobError, jdbc_password, read_table, read_topic, session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def open_incidents(spark: SparkSession, cfg: RescoreConfig, password: str) -> DataFrame:
    from pyspark.sql import functions as F

    inc = read_table(spark, cfg.jdbc_url, cfg.jdbc_user, password, "incidents")
    df = inc.where((F.col("status") != "resolved") & F.col("domain").isin(list(cfg.domains)))
    if cfg.since:
        df = df.where(F.col("last_seen") >= F.timestamp_millis(F.lit(int(cfg.since.timestamp() * 1000))))
    if cfg.until:
        df = df.where(F.col("last_seen") < F.timestamp_millis(F.lit(int(cfg.until.timestamp() * 1000))))
    return df.select("incident_id", "domain", "rule_id", "entity", "severity", "alert_count",
                     F.unix_millis("last_seen").alias("last_seen_ms"))


def history(spark: SparkSession, cfg: RescoreConfig, password: str, incidents: DataFrame) -> DataFrame:
    """Per open incident: the entity's other alerts and earlier dispositions, the rule's record."""
    from pyspark.sql import functions as F

    since = F.timestamp_millis(F.lit(cfg.history_start_ms))
    inc = read_table(spark, cfg.jdbc_url, cfg.jdbc_user, password, "incidents")
    resolved = (inc.where((F.col("status") == "resolved") & F.col("disposition").isNotNull()
                          & F.col("domain").isin(list(cfg.domains)) & (F.col("resolved_at") >= since))
                .select("domain", "rule_id", "entity", "disposition"))
    by_entity = resolved.groupBy("domain", "entity").agg(
        F.count_if(F.col("disposition") == "confirmed_fraud").alias("confirmed"),
        F.count_if(F.col("disposition") == "false_positive").alias("false_positives"),
        F.count_if(F.col("disposition") == "benign").alias("benign"))
    by_rule = resolved.groupBy("domain", "rule_id").agg(
        F.count_if(F.col("disposition") == "confirmed_fraud").alias("rule_confirmed"),
        F.count_if(F.col("disposition") == "false_positive").alias("rule_false_positives"))
    alerts = (read_table(spark, cfg.jdbc_url, cfg.jdbc_user, password, "alerts")
              .where(F.col("domain").isin(list(cfg.domains)) & (F.col("detected_at") >= since))
              .select("domain", "entity", "rule_id", F.col("incident_id").alias("a_incident_id")))
    other = (incidents.select("incident_id", "domain", "entity").join(alerts, ["domain", "entity"])
             .where(F.col("a_incident_id").isNull() | (F.col("a_incident_id") != F.col("incident_id")))
             .groupBy("incident_id")
             .agg(F.count(F.lit(1)).alias("other_alerts"), F.countDistinct("rule_id").alias("other_rules")))
    return (incidents.join(other, "incident_id", "left")
            .join(by_entity, ["domain", "entity"], "left")
            .join(by_rule, ["domain", "rule_id"], "left"))


def spend(spark: SparkSession, cfg: RescoreConfig, incidents: DataFrame) -> DataFrame | None:
    """Per open payments incident: amount moved in the hour up to last_seen vs the hourly average."""
    from pyspark.sql import functions as F

    pay = incidents.where(F.col("domain") == "payments").select("incident_id", "entity", "last_seen_ms")
    if "payments" not in cfg.domains or pay.limit(1).count() == 0:
        return None
    raw = read_topic(spark, cfg.bootstrap, cfg.payments_topic, cfg.spend_start_ms, cfg.reference_ms)
    raw.createOrReplaceTempView("rescore_raw_payments")
    events = (spark.sql(parse_sql("payments", "rescore_raw_payments", max_event_bytes=cfg.max_event_bytes,
                                  max_future_skew_s=cfg.max_future_skew_s))
              .where("reason IS NULL AND amount IS NOT NULL AND event_type IN ('auth', 'payout', 'deposit')")
              .dropDuplicates(["id"])
              .select("ts_ms", "amount", F.explode(F.array_distinct(F.array_compact(
                  F.array("card_id", "account_id")))).alias("entity")))
    recent_ms = RECENT_MINUTES * 60_000
    joined = events.join(F.broadcast(pay), "entity")
    is_recent = (F.col("ts_ms") > F.col("last_seen_ms") - recent_ms) & (F.col("ts_ms") <= F.col("last_seen_ms"))
    baseline_hours = max(cfg.spend_hours - RECENT_MINUTES / 60, 1.0)
    return (joined.groupBy("incident_id").agg(
        F.sum(F.when(is_recent, F.col("amount")).otherwise(0.0)).alias("spend_recent"),
        (F.sum(F.when(~is_recent, F.col("amount")).otherwise(0.0)) / F.lit(baseline_hours))
        .alias("spend_hourly_baseline"),
        F.count_if(~is_recent).alias("spend_baseline_events")))


_SCORE_COLUMNS = """incident_id bigint, domain text, rule_id text, entity text, priority smallint, reasons jsonb,
    features jsonb"""


def write_results(jdbc: Jdbc, cfg: RescoreConfig, scored: list[dict[str, Any]], summary: dict[str, Any]) -> int:
    with jdbc.transaction() as conn:
        Jdbc.execute(conn, """
            INSERT INTO rescoring_runs (run_id, domains, since, until, reference, history_days, spend_hours, config)
            VALUES (?::uuid, ARRAY(SELECT jsonb_array_elements_text(?::jsonb)), ?::timestamptz, ?::timestamptz,
                    ?::timestamptz, ?, ?, ?::jsonb)
            ON CONFLICT (run_id) DO NOTHING""",
            [cfg.run_id, list(cfg.domains), cfg.since.isoformat() if cfg.since else None,
             cfg.until.isoformat() if cfg.until else None, cfg.reference.isoformat(), cfg.history_days,
             cfg.spend_hours, cfg.as_dict()])
        Jdbc.execute(conn, "DELETE FROM incident_scores WHERE run_id = ?::uuid", [cfg.run_id])
        Jdbc.execute(conn, f"""
            INSERT INTO incident_scores (run_id, incident_id, domain, rule_id, entity, priority, reasons, features)
            SELECT ?::uuid, x.incident_id, x.domain, x.rule_id, x.entity, x.priority, x.reasons, x.features
            FROM jsonb_to_recordset(?::jsonb) AS x({_SCORE_COLUMNS})""", [cfg.run_id, scored])
        row = Jdbc.query_one(conn, "SELECT set_incident_priorities(?::jsonb)", [json.dumps(
            [{"incident_id": s["incident_id"], "priority": s["priority"], "reasons": s["reasons"]} for s in scored])])
        changed = int(row[0]) if row and row[0] is not None else 0
        Jdbc.execute(conn, """
            UPDATE rescoring_runs SET status = 'done', finished_at = now(), scored = ?, changed = ?,
                   summary = ?::jsonb, error = NULL
             WHERE run_id = ?::uuid""", [len(scored), changed, {**summary, "changed": changed}, cfg.run_id])
    return changed


def run(cfg: RescoreConfig) -> dict[str, Any]:
    from pyspark.sql import functions as F

    password = jdbc_password()
    started = time.monotonic()
    spark = session(f"patternalarm-rescore-{cfg.run_id[:8]}")
    incidents = open_incidents(spark, cfg, password).localCheckpoint()
    rows = history(spark, cfg, password, incidents)
    spent = spend(spark, cfg, incidents)
    if spent is not None:
        rows = rows.join(spent, "incident_id", "left")
    collected = [r.asDict() for r in rows.orderBy(F.col("incident_id")).collect()]
    scored = []
    for row in collected:
        f = Features.from_row(row)
        s = score(f, history_days=cfg.history_days)
        scored.append({"incident_id": f.incident_id, "domain": f.domain, "rule_id": f.rule_id, "entity": f.entity,
                       "priority": s.priority, "reasons": s.reasons,
                       "features": {**f.as_dict(), "contributions": [c.as_dict() for c in s.contributions]}})
    buckets = Counter(min(s["priority"] // 20, 4) for s in scored)
    top = sorted(scored, key=lambda s: (-s["priority"], s["incident_id"]))[:10]
    summary = {"scored": len(scored), "elapsed_s": round(time.monotonic() - started, 1),
               "by_domain": dict(Counter(s["domain"] for s in scored)),
               "priority_buckets": {f"{20 * b}-{20 * b + 19 if b < 4 else 100}": buckets.get(b, 0) for b in range(5)},
               "top": [{"incident_id": s["incident_id"], "entity": s["entity"], "rule_id": s["rule_id"],
                        "priority": s["priority"], "reasons": [r["detail"] for r in s["reasons"]]} for s in top]}
    changed = write_results(Jdbc(spark, cfg.jdbc_url, cfg.jdbc_user, password), cfg, scored, summary)
    print(f"[rescore] run {cfg.run_id}: {len(scored)} open incident(s) scored, {changed} changed, "
          f"in {time.monotonic() - started:.1f}s; priorities {summary['priority_buckets']}", flush=True)
    for s in summary["top"]:
        print(f"[rescore]   {s['priority']:>3} incident {s['incident_id']} {s['rule_id']} {s['entity']}: "
              f"{'; '.join(s['reasons'])}", flush=True)
    return {**summary, "changed": changed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="RescoreConfig as JSON")
    args = parser.parse_args(argv)
    try:
        run(RescoreConfig.from_json(args.config))
    except (PlanError, JobError) as exc:
        print(f"[rescore] error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
