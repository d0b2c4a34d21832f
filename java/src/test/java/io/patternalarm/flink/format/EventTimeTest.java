package io.patternalarm.flink.format;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.OffsetDateTime;

import org.junit.jupiter.api.Test;

class EventTimeTest {
    @Test
    void agreesWithJavaTime() {
        String[] samples = {"1970-01-01T00:00:00Z", "2000-02-29T23:59:59.999Z", "2026-11-26T10:15:30.1+05:30",
            "1999-12-31T23:59:59.123456789-08:00", "2100-03-01T00:00:00.000Z", "1969-07-20T20:17:40Z"};
        for (String s : samples) {
            long expected = OffsetDateTime.parse(s).toInstant().toEpochMilli();
            assertEquals(expected, EventTime.parseIso(s), s);
        }
    }

    @Test
    void rejectsWhatThePatternOrTheCalendarRejects() {
        String[] bad = {"2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-11-26T24:00:00Z", "2026-11-26 10:15:30Z",
            "2026-11-26T10:15:30", "2026-11-26T10:15:30.Z", "2026-11-26T10:15:30.1234567890Z", "2026-11-26T10:15:30+0100",
            "+2026-11-26T10:15:30Z", "2026-11-26T10:15:30Zjunk"};
        for (String s : bad) {
            assertEquals(EventTime.INVALID, EventTime.parseIso(s), s);
        }
    }

    @Test
    void epochMillisFromNumbers() {
        assertEquals(1764152130123L, EventTime.fromNumber(1764152130123.0));
        assertEquals(EventTime.INVALID, EventTime.fromNumber(-1));
        assertEquals(EventTime.INVALID, EventTime.fromNumber(1.5));
        assertEquals(EventTime.INVALID, EventTime.fromNumber(Double.NaN));
    }
}
