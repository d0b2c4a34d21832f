package io.patternalarm.flink.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.logical.RowType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The format against the shared vectors (tests/vectors/events.json) the Python edge validator passes too. */
class EventDeserializerTest {
    static final Path REPO = Path.of(System.getProperty("patternalarm.repo", ".."));
    static final RowType ROW = row("amount");

    /** event_id, a DOUBLE field of the domain, then the special columns. */
    static RowType row(String number) {
        return (RowType) DataTypes.ROW(
            DataTypes.FIELD("event_id", DataTypes.STRING()),
            DataTypes.FIELD(number, DataTypes.DOUBLE()),
            DataTypes.FIELD("reason", DataTypes.STRING()),
            DataTypes.FIELD("detail", DataTypes.STRING()),
            DataTypes.FIELD("event_ts", DataTypes.TIMESTAMP_LTZ(3)),
            DataTypes.FIELD("raw", DataTypes.STRING()),
            DataTypes.FIELD("raw_bytes", DataTypes.INT())).getLogicalType();
    }

    static String schema(String domain) throws IOException {
        return Files.readString(REPO.resolve("include/patternalarm/events/schemas/" + domain + ".schema.json"));
    }

    static EventDeserializer deserializer(String domain, RowType row, int maxBytes) throws IOException {
        EventDeserializer d = new EventDeserializer(domain, schema(domain), maxBytes, row, null);
        d.setUp();
        return d;
    }

    static Stream<Arguments> vectors() throws IOException {
        JsonNode root = new ObjectMapper().readTree(REPO.resolve("tests/vectors/events.json").toFile());
        List<Arguments> out = new ArrayList<>();
        for (JsonNode v : root.get("vectors")) {
            out.add(Arguments.of(v.get("name").asText(), v.get("domain").asText(),
                    v.get("raw").isNull() ? null : v.get("raw").asText(),
                    v.get("reason").isNull() ? null : v.get("reason").asText(),
                    v.has("event_ms") ? v.get("event_ms").asLong() : null));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("vectors")
    void sameReasonAsTheEdge(String name, String domain, String raw, String reason, Long eventMs) throws IOException {
        RowType type = row(domain.equals("iot") ? "value" : "amount");
        RowData row = deserializer(domain, type, 65536).deserialize(raw == null ? null : raw.getBytes(StandardCharsets.UTF_8));
        assertEquals(reason, row.isNullAt(2) ? null : row.getString(2).toString(), name);
        if (reason == null) {
            assertNull(row.isNullAt(3) ? null : row.getString(3).toString(), "no detail for a valid event");
            assertNotNull(row.isNullAt(4) ? null : row.getTimestamp(4, 3), "a valid event has its event time");
            if (eventMs != null) {
                assertEquals(eventMs.longValue(), row.getTimestamp(4, 3).getMillisecond(), name);
            }
        } else {
            assertNotNull(row.isNullAt(3) ? null : row.getString(3), "an invalid event says why");
            assertEquals(raw == null ? 0 : raw.getBytes(StandardCharsets.UTF_8).length, row.getInt(6));
        }
    }

    @Test
    void oversizedBeforeParsing() throws IOException {
        byte[] big = ("{\"event_id\":\"" + "x".repeat(300) + "\"}").getBytes(StandardCharsets.UTF_8);
        RowData row = deserializer("payments", ROW, 256).deserialize(big);
        assertEquals("oversized", row.getString(2).toString());
        assertEquals(big.length, row.getInt(6));
    }

    @Test
    void nullValueIsMalformed() throws IOException {
        RowData row = deserializer("payments", ROW, 65536).deserialize(null);
        assertEquals("malformed_json", row.getString(2).toString());
    }

    @Test
    void typedColumnsAndTheRawText() throws IOException {
        String raw = "{\"event_id\":\"e9\",\"event_time\":\"2026-01-05T00:00:00Z\",\"domain\":\"payments\","
                + "\"account_id\":\"a\",\"card_id\":\"c\",\"event_type\":\"auth\",\"amount\":7}";
        RowData row = deserializer("payments", ROW, 65536).deserialize(raw.getBytes(StandardCharsets.UTF_8));
        assertEquals("e9", row.getString(0).toString());
        assertEquals(7.0, row.getDouble(1));
        assertEquals(raw, row.getString(5).toString());
    }

    @Test
    void invalidRowsStillNameTheirEvent() throws IOException {
        String raw = "{\"event_id\":\"e9\",\"event_time\":\"2026-01-05T00:00:00Z\",\"domain\":\"payments\","
                + "\"account_id\":\"a\",\"card_id\":\"c\",\"event_type\":\"auth\",\"amount\":\"7\"}";
        RowData row = deserializer("payments", ROW, 65536).deserialize(raw.getBytes(StandardCharsets.UTF_8));
        assertEquals("wrong_type:amount", row.getString(2).toString());
        assertEquals("e9", row.getString(0).toString());
        assertNull(row.isNullAt(1) ? null : row.getDouble(1), "fields of an invalid event stay empty");
    }

    @Test
    void aColumnThatIsNotInTheSchemaIsRefused() throws IOException {
        RowType row = (RowType) DataTypes.ROW(DataTypes.FIELD("colour", DataTypes.STRING())).getLogicalType();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> deserializer("payments", row, 10));
        assertEquals(true, e.getMessage().contains("colour"));
    }

    @Test
    void aSchemaKeywordTheCompilerDoesNotKnowIsRefused() {
        String schema = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"format\":\"x\",\"oneOf\":[]}}}";
        assertThrows(EventContract.SchemaCompileException.class, () -> EventContract.compile("payments", schema));
    }
}
