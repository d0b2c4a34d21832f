"""Healing every domain at once: the resubmissions overlap, and one domain's error does not stop the others."""

from __future__ import annotations

import threading

import pytest

from include.patternalarm.control.monitor import heal_all

SNAPS = [{"domain": d} for d in ("payments", "gaming", "iot")]


def test_domains_are_healed_concurrently_in_order() -> None:
    barrier = threading.Barrier(len(SNAPS), timeout=5)  # breaks unless all three heals are in flight together

    def heal_one(settings, store, snap, *, requested_by):
        barrier.wait()
        return {"domain": snap["domain"], "by": requested_by}

    results = heal_all(None, None, SNAPS, requested_by="test", heal_one=heal_one)
    assert [r["domain"] for r in results] == ["payments", "gaming", "iot"]
    assert {r["by"] for r in results} == {"test"}


def test_an_error_is_raised_after_the_other_domains_finished() -> None:
    done: list[str] = []

    def heal_one(settings, store, snap, *, requested_by):
        if snap["domain"] == "payments":
            raise RuntimeError("gateway refused payments")
        done.append(snap["domain"])
        return None

    with pytest.raises(RuntimeError, match="gateway refused payments"):
        heal_all(None, None, SNAPS, requested_by="test", heal_one=heal_one)
    assert sorted(done) == ["gaming", "iot"]
