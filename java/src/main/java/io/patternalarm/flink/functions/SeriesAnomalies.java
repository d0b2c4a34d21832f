package io.patternalarm.flink.functions;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.ListView;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

import io.patternalarm.flink.detect.SeriesModel;
import io.patternalarm.flink.detect.SeriesParams;
import io.patternalarm.flink.detect.SeriesState;

/**
 * Adaptive, scale-free anomaly detection per series ({@link SeriesModel}): called as
 * <pre>{@code
 * series_anomalies(input => TABLE readings PARTITION BY device_id, sensor_type,
 *                  on_time => DESCRIPTOR(ts), params => 'spike_z=6;kinds=spike,level_shift')
 * }</pre>
 * on a table with {@code event_id STRING}, {@code value DOUBLE} and optionally {@code range_key STRING}
 * (which physical range applies) and {@code tag STRING} (carried to the output, e.g. the merchant).
 * Readings are judged in event-time order (buffered until the watermark passes them, like every
 * event-time operator), so the result does not depend on how partitions interleave — the same input
 * gives the same alerts after a restart or a rescale. Emits one row per alert opened or updated:
 * the partition keys, then {@code kind, first_event_id} (the episode's anchor: its alert id),
 * {@code event_id} (the reading), times, value, the baseline's expectation and scale, the detector's
 * statistic and threshold, {@code score} (0..1), {@code seq} (1 = opens), the episode's length and the
 * reading's tag.
 * A series' state is dropped idle_days of event time after its last reading.
 */
@FunctionHint(output = @DataTypeHint("ROW<kind STRING, first_event_id STRING, event_id STRING, "
        + "first_ts TIMESTAMP_LTZ(3), last_ts TIMESTAMP_LTZ(3), `value` DOUBLE, expected DOUBLE, scale DOUBLE, "
        + "statistic DOUBLE, threshold DOUBLE, score DOUBLE, seq INT, readings BIGINT, tag STRING>"))
public class SeriesAnomalies extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;
    private static final String IDLE = "idle";
    private static final Comparator<Pending> ORDER =
            Comparator.<Pending>comparingLong(r -> r.ts).thenComparing(r -> r.eventId == null ? "" : r.eventId);

    /** a reading waiting for the watermark. */
    public static class Pending {
        public long ts;
        public String eventId;
        public double value;
        public String rangeKey;
        public String tag;
    }

    /** learned from eval(): a timer can only be handled once the operator has seen its parameters. */
    private transient SeriesParams params;
    private transient String paramsText;
    private transient boolean fieldsKnown; // transient: false again after deserialization
    private transient int eventIdField;
    private transient int valueField;
    private transient int rangeKeyField;
    private transient int tagField;

    public void eval(Context ctx, @StateHint(ttl = "0") SeriesState state, @StateHint(ttl = "0") ListView<Pending> pending,
                     @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME}) Row input,
                     String params) throws Exception {
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
            return;
        }
        TimeContext<Long> time = ctx.timeContext(Long.class);
        Pending reading = new Pending();
        reading.ts = time.time();
        reading.eventId = eventIdField >= 0 ? (String) input.getField(eventIdField) : null;
        reading.value = ((Number) value).doubleValue();
        reading.rangeKey = rangeKeyField >= 0 ? (String) input.getField(rangeKeyField) : null;
        reading.tag = tagField >= 0 ? (String) input.getField(tagField) : null;
        pending.add(reading);
        time.registerOnTime(reading.ts);
        long idleMs = (long) (this.params.idleDays * 86_400_000L);
        long idleAt = reading.ts + idleMs;
        if (state.idleAt < reading.ts + idleMs / 2) {
            time.registerOnTime(IDLE, idleAt);
            state.idleAt = idleAt;
        }
    }

    public void onTimer(OnTimerContext ctx, SeriesState state, ListView<Pending> pending) throws Exception {
        TimeContext<Long> time = ctx.timeContext(Long.class);
        long now = time.time();
        if (IDLE.equals(ctx.currentTimer())) {
            if (state.lastTs > 0 && now >= state.idleAt) {
                ctx.clearAllState();
            }
            return;
        }
        if (params == null) { // restored, and no reading seen yet by this operator: judge them later
            time.registerOnTime(now + 1);
            return;
        }
        List<Pending> due = new ArrayList<>();
        List<Pending> later = new ArrayList<>();
        for (Pending r : pending.get()) {
            (r.ts <= now ? due : later).add(r);
        }
        if (due.isEmpty()) {
            return;
        }
        due.sort(ORDER);
        pending.clear();
        if (!later.isEmpty()) {
            pending.addAll(later);
        }
        for (Pending r : due) {
            for (SeriesModel.Anomaly a : SeriesModel.update(state, params, r.ts, r.eventId, r.value, r.rangeKey)) {
                collect(Row.of(a.kind(), a.firstEventId(), r.eventId, Instant.ofEpochMilli(a.firstTs()),
                        Instant.ofEpochMilli(r.ts), r.value, a.expected(), a.scale(), a.statistic(), a.threshold(),
                        a.score(), a.seq(), a.readings(), r.tag));
            }
        }
    }
}
