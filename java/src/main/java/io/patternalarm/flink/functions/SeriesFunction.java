package io.patternalarm.flink.functions;

import java.time.Instant;
import java.util.Comparator;
import java.util.List;

import org.apache.flink.table.api.dataview.ListView;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

import io.patternalarm.flink.detect.SeriesModel;
import io.patternalarm.flink.detect.SeriesParams;
import io.patternalarm.flink.detect.SeriesState;

/**
 * What the two adaptive series functions share ({@link SeriesAnomalies}: catalog v4's structured state;
 * {@link PackedSeriesAnomalies}: v5's packed bytes): reading the input row, buffering readings until the
 * watermark passes them, and judging them in event-time order. The state's form is the subclasses'.
 */
abstract class SeriesFunction extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;
    /** the output row of both functions (an annotation is not inherited: each names this). */
    static final String OUTPUT = "ROW<kind STRING, first_event_id STRING, event_id STRING, "
            + "first_ts TIMESTAMP_LTZ(3), last_ts TIMESTAMP_LTZ(3), `value` DOUBLE, expected DOUBLE, scale DOUBLE, "
            + "statistic DOUBLE, threshold DOUBLE, score DOUBLE, seq INT, readings BIGINT, tag STRING>";
    /** the named idle timer of the jar before 2026-12-04 (state restored from it may still hold one). */
    static final String IDLE = "idle";
    private static final Comparator<SeriesAnomalies.Pending> ORDER = DueRows.order(r -> r.ts, r -> r.eventId);

    /**
     * Forgets an idle series: its state, and the idle timer's name in Flink's per-key map of named timers
     * (Flink 2.2 does not empty it when the timer fires, so each forgotten series left an entry behind).
     */
    static void forget(OnTimerContext ctx) {
        ctx.clearAllState();
        ctx.timeContext(Long.class).clearTimer(IDLE);
    }

    /** learned from eval(): a timer can only be handled once the operator has seen its parameters. */
    private transient SeriesParams params;
    private transient String paramsText;
    private transient boolean fieldsKnown; // transient: false again after deserialization
    private transient int eventIdField;
    private transient int valueField;
    private transient int rangeKeyField;
    private transient int tagField;

    /**
     * Buffer the input row's reading until the watermark passes it (null value: nothing); returns the
     * event time at which the series' idle timer should fire if {@code idleAt} must move, else -1.
     */
    long accept(Context ctx, Row input, String params, long idleAt, ListView<SeriesAnomalies.Pending> pending)
            throws Exception {
        if (!params.equals(paramsText)) {
            this.params = SeriesParams.parse(params);
            this.paramsText = params;
        }
        if (!fieldsKnown) {
            fieldsKnown = true;
            List<String> names = org.apache.flink.table.types.logical.utils.LogicalTypeChecks.getFieldNames(
                    ctx.tableSemanticsFor("input").dataType().getLogicalType());
            eventIdField = names.indexOf("event_id");
            valueField = names.indexOf("value");
            rangeKeyField = names.indexOf("range_key");
            tagField = names.indexOf("tag");
            if (valueField < 0) {
                throw new IllegalArgumentException("series_anomalies needs a DOUBLE column named value");
            }
        }
        Object value = input.getField(valueField);
        if (value == null) {
            return -1;
        }
        TimeContext<Long> time = ctx.timeContext(Long.class);
        SeriesAnomalies.Pending reading = new SeriesAnomalies.Pending();
        reading.ts = time.time();
        reading.eventId = eventIdField >= 0 ? (String) input.getField(eventIdField) : null;
        reading.value = ((Number) value).doubleValue();
        reading.rangeKey = rangeKeyField >= 0 ? (String) input.getField(rangeKeyField) : null;
        reading.tag = tagField >= 0 ? (String) input.getField(tagField) : null;
        pending.add(reading);
        time.registerOnTime(reading.ts);
        long idleMs = (long) (this.params.idleDays * 86_400_000L);
        if (idleAt < reading.ts + idleMs / 2) {
            // unnamed, like the readings' own timers: Flink 2.2 keeps every named timer's name in a per-key
            // map entry (one more entry per series in the heap and in every checkpoint); an earlier idle
            // timer still pending finds the series active when it fires (idleDue)
            time.registerOnTime(reading.ts + idleMs);
            return reading.ts + idleMs;
        }
        return -1;
    }

    /** The readings the watermark has passed, in event-time order (taken out of {@code pending}); an
     * empty list when there are none or the parameters are not known yet (then judged later). */
    List<SeriesAnomalies.Pending> due(OnTimerContext ctx, ListView<SeriesAnomalies.Pending> pending) throws Exception {
        TimeContext<Long> time = ctx.timeContext(Long.class);
        long now = time.time();
        if (params == null) { // restored, and no reading seen yet by this operator: judge them later
            time.registerOnTime(now + 1);
            return List.of();
        }
        return DueRows.take(pending, now, r -> r.ts, ORDER);
    }

    /** Feed {@code due} to the model and emit the alerts it opens or updates. */
    void judge(SeriesState state, List<SeriesAnomalies.Pending> due) {
        for (SeriesAnomalies.Pending r : due) {
            for (SeriesModel.Anomaly a : SeriesModel.update(state, params, r.ts, r.eventId, r.value, r.rangeKey)) {
                collect(Row.of(a.kind(), a.firstEventId(), r.eventId, Instant.ofEpochMilli(a.firstTs()),
                        Instant.ofEpochMilli(r.ts), r.value, a.expected(), a.scale(), a.statistic(), a.threshold(),
                        a.score(), a.seq(), a.readings(), r.tag));
            }
        }
    }

    /** Due at any of the series' timers (after its due readings): it has had no reading for idle_days of event time. */
    static boolean idleDue(OnTimerContext ctx, long lastTs, long idleAt) {
        return lastTs > 0 && ctx.timeContext(Long.class).time() >= idleAt;
    }
}
