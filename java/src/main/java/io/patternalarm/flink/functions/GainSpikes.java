package io.patternalarm.flink.functions;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.ListView;
import org.apache.flink.types.Row;

import io.patternalarm.flink.detect.GainSpike;

/**
 * The rising edges of "a window's summed amounts far above the key's own norm" (catalog v8: currency_farming's
 * gain spike): {@code gain_spikes(input => TABLE t PARTITION BY key, on_time => DESCRIPTOR(ts), params =>
 * 'window_s=…;history_windows=…;min_history_windows=…;spike_factor=…;min_gain=…;memory_min=…')} on a table with
 * {@code event_id, value} (positive values). Emits a row at the row that makes its window a rising edge
 * ({@link GainSpike}), as soon as the watermark passes that row — catalog v7's SQL could only decide when the
 * tumbling window closed, up to a window later. {@code ids} is the window's event ids up to that row, comma-joined.
 */
@FunctionHint(output = @DataTypeHint("ROW<event_id STRING, epoch_ms BIGINT, gain DOUBLE, norm DOUBLE, "
        + "history INT, first_id STRING, first_ms BIGINT, ids STRING>"))
public class GainSpikes extends OrderedSteps {
    private static final long serialVersionUID = 1L;
    private static final String[] NUMBERS = {"value"};

    private transient GainSpike.Params params;

    @Override
    void configure(String text) {
        params = GainSpike.Params.parse(text);
    }

    @Override
    String[] numberColumns() {
        return NUMBERS;
    }

    public void eval(Context ctx, @StateHint(ttl = "0") GainSpike.State gains,
                     @StateHint(ttl = "0") ListView<Step> pending,
                     @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME}) Row input,
                     String params) throws Exception {
        accept(ctx, pending, input, params);
    }

    public void onTimer(OnTimerContext ctx, GainSpike.State gains, ListView<Step> pending) throws Exception {
        if (deferred(ctx)) {
            return;
        }
        for (Step row : due(ctx, pending)) {
            GainSpike.Spike spike = GainSpike.add(gains, params, row.ts, row.a, row.eventId);
            if (spike != null) {
                collect(Row.of(row.eventId, row.ts, spike.gain(), spike.norm(), spike.history(), spike.firstId(),
                        spike.firstTs(), String.join(",", spike.ids())));
            }
        }
        long scheduled = forgetOrKeep(ctx, "gains", GainSpike.forgetAt(gains, params), gains.forgetAt);
        if (scheduled >= 0) {
            gains.forgetAt = scheduled;
        }
    }
}
