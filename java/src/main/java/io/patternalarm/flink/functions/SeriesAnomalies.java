package io.patternalarm.flink.functions;

import java.util.List;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.ListView;
import org.apache.flink.types.Row;

import io.patternalarm.flink.detect.SeriesState;

/**
 * Adaptive, scale-free anomaly detection per series ({@link io.patternalarm.flink.detect.SeriesModel}): called as
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
 * A series' state is dropped idle_days of event time after its last reading. This is catalog v4's form
 * (a structured {@link SeriesState}); v5's {@link PackedSeriesAnomalies} keeps the same model in packed bytes.
 */
@FunctionHint(output = @DataTypeHint(SeriesFunction.OUTPUT))
public class SeriesAnomalies extends SeriesFunction {
    private static final long serialVersionUID = 1L;

    /** a reading waiting for the watermark. */
    public static class Pending {
        public long ts;
        public String eventId;
        public double value;
        public String rangeKey;
        public String tag;
    }

    public void eval(Context ctx, @StateHint(ttl = "0") SeriesState state, @StateHint(ttl = "0") ListView<Pending> pending,
                     @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME}) Row input,
                     String params) throws Exception {
        long idleAt = accept(ctx, input, params, state.idleAt, pending);
        if (idleAt >= 0) {
            state.idleAt = idleAt;
        }
    }

    public void onTimer(OnTimerContext ctx, SeriesState state, ListView<Pending> pending) throws Exception {
        List<Pending> due = due(ctx, pending);
        if (!due.isEmpty()) {
            judge(state, due);
        } else if (idleDue(ctx, state.lastTs, state.idleAt)) {
            forget(ctx);
        }
    }
}
