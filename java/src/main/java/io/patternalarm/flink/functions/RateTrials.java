package io.patternalarm.flink.functions;

import java.time.Instant;
import java.util.Comparator;
import java.util.List;

import org.apache.flink.table.api.dataview.ListView;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

import io.patternalarm.flink.detect.RateModel;
import io.patternalarm.flink.functions.RateOutliers.Trial;

/**
 * What both success-rate functions ({@link RateOutliers}: catalog v4/v5; {@link SpreadRateOutliers}:
 * v6) do around {@link RateModel}: keep each row until the watermark passes it, then judge the due rows
 * in event-time order. Each concrete function declares its own state entries in {@code eval}/{@code
 * onTimer} (Flink's generated code calls those signatures, so a job graph compiled against one keeps
 * running on a newer jar; for the same reason the pending rows' type stays {@link RateOutliers.Trial}, the
 * class v4/v5 state was written with).
 */
public abstract class RateTrials extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;
    private static final Comparator<Trial> ORDER = DueRows.order(t -> t.ts, t -> t.eventId);

    private transient RateModel.Params params;
    private transient String paramsText;
    private transient int[] fields;

    /** an eval: parse the parameters once, keep the row until the watermark passes it. */
    protected void accept(Context ctx, ListView<Trial> pending, Row input, String params) throws Exception {
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

    /**
     * an onTimer: judge the rows the watermark passed, in event-time order; {@code spread} is null for
     * the v4/v5 function, whose output row has no z_spread/spread columns.
     */
    protected void judge(OnTimerContext ctx, RateModel.Population population, RateModel.Spread spread,
                         MapView<String, RateModel.Entity> entities, ListView<Trial> pending) throws Exception {
        TimeContext<Long> time = ctx.timeContext(Long.class);
        long now = time.time();
        if (params == null) { // restored, and no row seen yet by this operator: judge them later
            time.registerOnTime(now + 1);
            return;
        }
        List<Trial> due = DueRows.take(pending, now, t -> t.ts, ORDER);
        for (Trial t : due) {
            RateModel.Entity e = entities.get(t.entity);
            if (e == null) {
                e = new RateModel.Entity();
            }
            RateModel.Outlier o = RateModel.update(population, spread, e, params, t.ts, t.eventId, t.trials,
                    t.successes);
            entities.put(t.entity, e);
            if (o == null) {
                continue;
            }
            Row row = Row.of(t.entity, o.firstEventId(), t.eventId, Instant.ofEpochMilli(o.firstTs()),
                    Instant.ofEpochMilli(t.ts), o.rate(), o.recentTrials(), o.populationRate(), o.ownRate(),
                    o.zPopulation(), o.zOwn(), o.score(), o.seq());
            collect(spread == null ? row : Row.join(row, Row.of(o.zSpread(), o.spread())));
        }
    }
}
