package io.patternalarm.flink.functions;

import java.util.List;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.ListView;
import org.apache.flink.types.Row;

import io.patternalarm.flink.detect.KeyValues;

/**
 * Each row paired with the key's previous row in event time (catalog v7: impossible_travel, speed_hack):
 * {@code previous_point(input => TABLE t PARTITION BY key, on_time => DESCRIPTOR(ts), params =>
 * 'horizon_min=…')} on a table with {@code event_id, x, y, z}. Emits, for every row that has a previous one
 * within {@code horizon_min} of event time, the row and the previous one (the key's columns come first,
 * then these, then {@code rowtime}). What it keeps per key: the previous row's id, time and three numbers
 * — the SQL it replaces ({@code ROWS 1 PRECEDING} over-window) kept whole rows until a processing-time TTL.
 */
@FunctionHint(output = @DataTypeHint("ROW<event_id STRING, epoch_ms BIGINT, x DOUBLE, y DOUBLE, z DOUBLE, "
        + "prev_id STRING, prev_ms BIGINT, prev_x DOUBLE, prev_y DOUBLE, prev_z DOUBLE>"))
public class PreviousPoint extends OrderedSteps {
    private static final long serialVersionUID = 1L;
    private static final String[] NUMBERS = {"x", "y", "z"};

    /** the key's previous row (eventId null: none), and when its forget timer fires. */
    public static class Last {
        public long ts;
        public String eventId;
        public double x;
        public double y;
        public double z;
        public long forgetAt;
    }

    private transient long horizonMs;

    @Override
    void configure(String params) {
        horizonMs = Math.round(KeyValues.doubleOf(KeyValues.parse(params, "previous_point"), "horizon_min") * 60_000);
    }

    @Override
    String[] numberColumns() {
        return NUMBERS;
    }

    public void eval(Context ctx, @StateHint(ttl = "0") Last last,
                     @StateHint(ttl = "0") ListView<Step> pending,
                     @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME}) Row input,
                     String params) throws Exception {
        accept(ctx, pending, input, params);
    }

    public void onTimer(OnTimerContext ctx, Last last, ListView<Step> pending) throws Exception {
        if (deferred(ctx)) {
            return;
        }
        for (Step s : due(ctx, pending)) {
            if (last.eventId != null && s.ts - last.ts <= horizonMs) {
                collect(Row.of(s.eventId, s.ts, s.a, s.b, s.c, last.eventId, last.ts, last.x, last.y, last.z));
            }
            last.ts = s.ts;
            last.eventId = s.eventId;
            last.x = s.a;
            last.y = s.b;
            last.z = s.c;
        }
        long scheduled = forgetOrKeep(ctx, "last", last.eventId == null ? 0 : last.ts + horizonMs + 1, last.forgetAt);
        if (scheduled >= 0) {
            last.forgetAt = scheduled;
        }
    }
}
