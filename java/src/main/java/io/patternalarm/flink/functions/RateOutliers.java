package io.patternalarm.flink.functions;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.ListView;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.types.Row;

import io.patternalarm.flink.detect.RateModel;

/**
 * Success-rate outliers against the population's and the entity's own norm ({@link RateModel}, the
 * plain binomial test of catalog v4/v5; v6: {@link SpreadRateOutliers}):
 * <pre>{@code
 * rate_outliers(input => TABLE kills PARTITION BY population, on_time => DESCRIPTOR(ts),
 *               params => 'window_trials=30;min_trials=20;z_threshold=4.5')
 * }</pre>
 * on a table with {@code entity STRING, event_id STRING, trials INT, successes INT}; every row of one
 * population (a constant for "everybody", or a game mode) goes to one partition, so that the
 * population's norm sees all of them (kills are a small share of the traffic). Rows are judged in
 * event-time order. Emits one row per alert opened or updated.
 */
@FunctionHint(output = @DataTypeHint("ROW<entity STRING, first_event_id STRING, event_id STRING, "
        + "first_ts TIMESTAMP_LTZ(3), last_ts TIMESTAMP_LTZ(3), rate DOUBLE, recent_trials DOUBLE, "
        + "population_rate DOUBLE, own_rate DOUBLE, z_population DOUBLE, z_own DOUBLE, score DOUBLE, seq INT>"))
public class RateOutliers extends RateTrials {
    private static final long serialVersionUID = 1L;

    /** a row waiting for the watermark. */
    public static class Trial {
        public long ts;
        public String entity;
        public String eventId;
        public int trials;
        public int successes;
    }

    public void eval(Context ctx, @StateHint(ttl = "0") RateModel.Population population,
                     @StateHint(ttl = "0") MapView<String, RateModel.Entity> entities,
                     @StateHint(ttl = "0") ListView<Trial> pending,
                     @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME}) Row input,
                     String params) throws Exception {
        accept(ctx, pending, input, params);
    }

    public void onTimer(OnTimerContext ctx, RateModel.Population population, MapView<String, RateModel.Entity> entities,
                        ListView<Trial> pending) throws Exception {
        judge(ctx, population, null, entities, pending);
    }
}
