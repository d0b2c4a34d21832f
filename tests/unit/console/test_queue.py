"""The queue's filter, order and keyset positions (pure: the SQL is checked as text)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from include.patternalarm.incidents.queue import Cursor, QueueError, QueueFilter, counts_query, page_query


def test_a_position_survives_the_round_trip_to_the_microsecond() -> None:
    row = {"priority": None, "last_seen": datetime(2026, 12, 2, 10, 31, 5, 123456, tzinfo=UTC), "incident_id": 42}
    cursor = Cursor.of(row)
    assert cursor.rank == -1
    assert Cursor.decode(cursor.encode()) == cursor
    assert Cursor.decode(Cursor.of({**row, "priority": 87}).encode()).rank == 87


@pytest.mark.parametrize("text", ["", "abc", "1_2", "1_2_3_4", "101_0_1", "5_0_0", "-2_0_1", "1_x_3"])
def test_a_forged_position_is_refused(text: str) -> None:
    with pytest.raises(QueueError, match="not a queue position"):
        Cursor.decode(text)


@pytest.mark.parametrize(("flt", "message"), [
    (QueueFilter(status="gone"), "unknown status"),
    (QueueFilter(domain="mars"), "unknown domain"),
    (QueueFilter(severity="urgent"), "unknown severity"),
    (QueueFilter(since=datetime(2026, 1, 2, tzinfo=UTC), until=datetime(2026, 1, 1, tzinfo=UTC)), "empty"),
    (QueueFilter(entity_contains="x" * 501), "longer than 500"),
])
def test_bad_filters_are_refused_with_the_accepted_values(flt: QueueFilter, message: str) -> None:
    with pytest.raises(QueueError, match=message):
        page_query(flt)


def test_the_page_query_keeps_the_order_and_pages_by_keyset_not_offset() -> None:
    query, params = page_query(QueueFilter(status="active", rule="spike", entity_contains="dev_1%"),
                               after=Cursor(50, datetime(2026, 12, 2, tzinfo=UTC), 9), limit=25)
    text = query.as_string(None)
    assert "status <> 'resolved'" in text  # literal: the partial index applies
    assert "(coalesce(priority, -1), last_seen, incident_id) < (%s, %s, %s)" in text
    assert "ORDER BY coalesce(priority, -1) DESC, last_seen DESC, incident_id DESC LIMIT %s" in text
    assert "OFFSET" not in text
    assert params == ["spike", "%dev\\_1\\%%", 50, datetime(2026, 12, 2, tzinfo=UTC), 9, 26]


def test_paging_back_reverses_the_order() -> None:
    query, _ = page_query(QueueFilter(), before=Cursor(1, datetime(2026, 12, 2, tzinfo=UTC), 9))
    text = query.as_string(None)
    assert "> (%s, %s, %s)" in text and "ORDER BY coalesce(priority, -1) ASC" in text


def test_counts_ignore_the_status_but_keep_the_other_filters() -> None:
    query, params = counts_query(QueueFilter(status="open", assignee="-", domain="iot"))
    text = query.as_string(None)
    assert "status" not in text.split("WHERE")[1].split("GROUP BY")[0]
    assert "assignee IS NULL" in text and params == ["iot"]
