package io.patternalarm.flink.detect;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The Java detectors give the alerts the Python twin recorded (tests/vectors/series.json). */
class SeriesVectorsTest {
    static final long T0 = 1_767_225_600_000L;

    static Stream<Arguments> cases() throws IOException {
        Path repo = Path.of(System.getProperty("patternalarm.repo", ".."));
        JsonNode root = new ObjectMapper().readTree(repo.resolve("tests/vectors/series.json").toFile());
        List<Arguments> out = new ArrayList<>();
        root.get("cases").forEach(c -> out.add(Arguments.of(c.get("name").asText(), c)));
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void sameAlertsAsThePythonTwin(String name, JsonNode c) {
        SeriesParams p = SeriesParams.parse(c.get("params").asText());
        String rangeKey = c.get("range_key").isNull() ? null : c.get("range_key").asText();
        long gap = c.get("gap_ms").asLong();
        SeriesState s = new SeriesState();
        List<String> got = new ArrayList<>();
        JsonNode values = c.get("values");
        for (int i = 0; i < values.size(); i++) {
            for (SeriesModel.Anomaly a : SeriesModel.update(s, p, T0 + i * gap, "e" + i, values.get(i).asDouble(),
                    rangeKey)) {
                got.add(a.kind() + "/" + a.firstEventId() + "/" + a.seq() + "/" + i);
            }
        }
        List<String> want = new ArrayList<>();
        c.get("alerts").forEach(a -> want.add(a.get(0).asText() + "/" + a.get(1).asText() + "/" + a.get(2).asInt()
                + "/" + a.get(3).asInt()));
        assertEquals(want, got, name);
    }
}
