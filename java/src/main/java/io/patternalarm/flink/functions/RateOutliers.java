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
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

import io.patternalarm.flink.detect.RateModel;

/**
 * Success-rate outliers against the population's and the entity's own norm ({@link RateModel}):
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
public class RateOutliers extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;
    private static final Comparator<Trial> ORDER =
            Comparator.<Trial>comparingLong(t -> t.ts).thenComparing(t -> t.eventId == null ? "" : t.eventId);

    /** a row waiting for the watermark. */
    public static class Trial {
        public long ts;
        public String entity;
        public String eventId;
        public int trials;
        public int successes;
    }

    private transient RateModel.Params params;
    private transient String paramsText;
    private transient int[] fields;

    public void eval(Context ctx, @StateHint(ttl = "0") RateModel.Population population,
                     @StateHint(ttl = "0") MapView<String, RateModel.Entity> entities,
                     @StateHint(ttl = "0") ListView<Trial> pending,
                     @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME}) Row input,
                     String params) throws Exception {
        if (!params.equals(paramsText)) {
            this.params = RateModel.Params.parse(params);
            this.paramsText = params;
        }
        if (fields == null) {
            List<String> names = org.apache.flink.table.types.logical.utils.LogicalTypeChecks.getFieldNames(
                    ctx.tableSemanticsFor("input").dataType().getLogicalType());
            fields = new int[] {names.indexOf("entity"), names.indexOf("event_id"), names.indexOf("trials"),
                names.indexOf("successes")};
            for (int f : fields) {
                if (f < 0) {
                    throw new IllegalArgumentException("rate_outliers needs columns entity, event_id, trials, successes");
                }
            }
        }
        Trial t = new Trial();
        TimeContext<Long> time = ctx.timeContext(Long.class);
        t.ts = time.time();
        t.entity = (String) input.getField(fields[0]);
        t.eventId = (String) input.getField(fields[1]);
        Object trials = input.getField(fields[2]);
        Object successes = input.getField(fields[3]);
        if (t.entity == null || trials == null || successes == null) {
            return;
        }
        t.trials = ((Number) trials).intValue();
        t.successes = ((Number) successes).intValue();
        pending.add(t);
        time.registerOnTime(t.ts);
    }

    public void onTimer(OnTimerContext ctx, RateModel.Population population, MapView<String, RateModel.Entity> entities,
                        ListView<Trial> pending) throws Exception {
        TimeContext<Long> time = ctx.timeContext(Long.class);
        long now = time.time();
        if (params == null) { // restored, and no row seen yet by this operator: judge them later
            time.registerOnTime(now + 1);
            return;
        }
        List<Trial> due = new ArrayList<>();
        List<Trial> later = new ArrayList<>();
        for (Trial t : pending.get()) {
            (t.ts <= now ? due : later).add(t);
        }
        if (due.isEmpty()) {
            return;
        }
        due.sort(ORDER);
        pending.clear();
        if (!later.isEmpty()) {
            pending.addAll(later);
        }
        for (Trial t : due) {
            RateModel.Entity e = entities.get(t.entity);
            if (e == null) {
                e = new RateModel.Entity();
            }
            RateModel.Outlier o = RateModel.update(population, e, params, t.ts, t.eventId, t.trials, t.successes);
            entities.put(t.entity, e);
            if (o != null) {
                collect(Row.of(t.entity, o.firstEventId(), t.eventId, Instant.ofEpochMilli(o.firstTs()),
                        Instant.ofEpochMilli(t.ts), o.rate(), o.recentTrials(), o.populationRate(), o.ownRate(),
                        o.zPopulation(), o.zOwn(), o.score(), o.seq()));
            }
        }
    }
}
