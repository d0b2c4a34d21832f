"""The live-vs-shadow comparison per rule (pure) and the overrides a promotion hands to the deploy DAG."""

from __future__ import annotations

from datetime import UTC, datetime

from include.patternalarm.control.shadow import Shadow, comparison


def test_alerts_are_counted_per_rule_with_the_live_only_verdicts() -> None:
    live = {"a": {"rule_id": "velocity", "disposition": "false_positive"},
            "b": {"rule_id": "velocity", "disposition": "confirmed_fraud"},
            "c": {"rule_id": "velocity", "disposition": None},
            "d": {"rule_id": "velocity", "disposition": "benign"},
            "e": {"rule_id": "large_amount", "disposition": None}}
    shadow = {"d": {"rule_id": "velocity"}, "e": {"rule_id": "large_amount"}, "f": {"rule_id": "large_amount"},
              "g": {"rule_id": "amount_anomaly"}}
    out = comparison(live, shadow)
    assert list(out) == ["amount_anomaly", "large_amount", "velocity"]
    assert out["velocity"] == {"live": 4, "shadow": 1, "both": 1, "live_only": 3, "shadow_only": 0,
                               "live_only_by_disposition": {"confirmed_fraud": 1, "false_positive": 1, "benign": 0},
                               "live_only_open": 1}
    assert (out["large_amount"]["both"], out["large_amount"]["shadow_only"]) == (1, 1)
    assert out["amount_anomaly"]["live"] == 0 and out["amount_anomaly"]["shadow_only"] == 1
    assert comparison({}, {}) == {}


def test_a_promotion_passes_every_override_as_the_deploy_form_takes_them() -> None:
    shadow = Shadow(shadow_id=1, domain="payments", job_id="j", catalog_version=4,
                    overrides={"velocity": {"max_auths": 6, "window_s": 120}, "job": {"watermark_delay_ms": 500}},
                    rules_dir=None, parallelism=1, started_by="t", started_at=datetime(2026, 12, 2, tzinfo=UTC))
    assert shadow.param_overrides() == ["job.watermark_delay_ms=500", "velocity.max_auths=6",
                                        "velocity.window_s=120"]
