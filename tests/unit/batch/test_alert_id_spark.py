"""The batch path computes the alert id of the contract, escaping included (hostile entities and ids)."""

from __future__ import annotations

import pytest

from include.patternalarm.alerts import alert_id_for
from include.patternalarm.batch.rules import RuleSpec
from include.patternalarm.batch.sql import escaped_id_part, matches_sql

HOSTILE = [("card-1", "ev-1"), ("a|b", "c"), ("a", "b|c"), ("a\\", "b"), ("a", "\\b"), ("a\\|b", "c|"),
           ("|", "|"), ("\\\\", "\\|\\")]


def test_spark_alert_ids_match_the_contract(spark) -> None:
    spark.createDataFrame(HOSTILE, "entity STRING, first_id STRING").createOrReplaceTempView("t_ids")
    rows = spark.sql(f"""SELECT entity, first_id,
        sha2(concat_ws('|', 'velocity', '2', {escaped_id_part("entity")}, {escaped_id_part("first_id")}), 256) AS id
        FROM t_ids""").collect()
    assert {(r["entity"], r["first_id"]): r["id"] for r in rows} == {
        (e, f): alert_id_for("velocity", 2, e, f) for e, f in HOSTILE}
    assert len({r["id"] for r in rows}) == len(HOSTILE)


@pytest.mark.parametrize("column", ["m.entity", "m.first_id"])
def test_matches_sql_escapes_both_free_parts(column: str) -> None:
    spec = RuleSpec(rule_id="card_testing", version=1, domain="payments", severity="high",
                    params={"small_amount_max": 2.0, "min_small_auths": 3, "large_amount_min": 500.0, "window_s": 60})
    assert escaped_id_part(column) in matches_sql(spec, "t_input")
