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
import io.patternalarm.flink.functions.RateOutliers.Trial;

/**
 * Success-rate outliers judged against the population's learned spread of entities' rates (catalog v6's
 * {@code rate_outliers}; {@link RateModel} with {@code spread_z} &gt; 0):
 * <pre>{@code
 * rate_outliers(input => TABLE kills PARTITION BY population, on_time => DESCRIPTOR(ts),
 *               params => 'min_trials=20;z_threshold=3.5;spread_z=2.25')
 * }</pre>
 * The input and the state entries of {@link RateOutliers}, plus {@code spread} (its own entry, so that
 * restoring a v4/v5 operator's state leaves it empty); the output adds {@code z_spread} and {@code spread}.
 */
@FunctionHint(output = @DataTypeHint("ROW<entity STRING, first_event_id STRING, event_id STRING, "
        + "first_ts TIMESTAMP_LTZ(3), last_ts TIMESTAMP_LTZ(3), rate DOUBLE, recent_trials DOUBLE, "
        + "population_rate DOUBLE, own_rate DOUBLE, z_population DOUBLE, z_own DOUBLE, score DOUBLE, seq INT, "
        + "z_spread DOUBLE, spread DOUBLE>"))
public class SpreadRateOutliers extends RateTrials {
    private static final long serialVersionUID = 1L;

    public void eval(Context ctx, @StateHint(ttl = "0") RateModel.Population population,
                     @StateHint(ttl = "0") RateModel.Spread spread,
                     @StateHint(ttl = "0") MapView<String, RateModel.Entity> entities,
                     @StateHint(ttl = "0") ListView<Trial> pending,
                     @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME}) Row input,
                     String params) throws Exception {
        accept(ctx, pending, input, params);
    }

    public void onTimer(OnTimerContext ctx, RateModel.Population population, RateModel.Spread spread,
                        MapView<String, RateModel.Entity> entities, ListView<Trial> pending) throws Exception {
        judge(ctx, population, spread, entities, pending);
    }
}
