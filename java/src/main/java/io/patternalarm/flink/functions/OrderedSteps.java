package io.patternalarm.flink.functions;

import java.util.Comparator;
import java.util.List;

import org.apache.flink.table.api.dataview.ListView;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.table.types.logical.utils.LogicalTypeChecks;
import org.apache.flink.types.Row;

/**
 * What the keyed step functions ({@link PreviousPoint}, {@link WindowEdges}; catalog v7) share: each input
 * row (an event id, up to three numbers and its event time) waits in the key's pending list until the
 * watermark passes it, then the due rows are handled in event-time order (ties by event id) — the order
 * an event-time SQL over-window sorts its rows in, so the same alerts come out as from the SQL it replaces.
 * A row that arrives behind the watermark never gets here (the routing sends it to the late topic).
 */
public abstract class OrderedSteps extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;
    static final String FORGET = "forget";
    private static final Comparator<Step> ORDER = DueRows.order(s -> s.ts, s -> s.eventId);

    /** a pending row: its event time (ms), event id and numbers (a, b, c: which ones is the function's). */
    public static class Step {
        public long ts;
        public String eventId;
        public double a;
        public double b;
        public double c;
    }

    private transient int[] fields;
    private transient String paramsText;

    /** The function's parameters changed (or are first seen): parse them. */
    abstract void configure(String params);

    /** The number columns the function reads, in the order of a, b, c ({@code event_id} is always read). */
    abstract String[] numberColumns();

    /** Queue the row until the watermark passes it; false (nothing queued) when a number is null. */
    boolean accept(Context ctx, ListView<Step> pending, Row input, String params) throws Exception {
        if (!params.equals(paramsText)) {
            configure(params);
            paramsText = params;
        }
        if (fields == null) {
            List<String> names = LogicalTypeChecks.getFieldNames(
                    ctx.tableSemanticsFor("input").dataType().getLogicalType());
            String[] numbers = numberColumns();
            int[] found = new int[numbers.length + 1];
            found[0] = names.indexOf("event_id");
            for (int i = 0; i < numbers.length; i++) {
                found[i + 1] = names.indexOf(numbers[i]);
            }
            for (int f : found) {
                if (f < 0) {
                    throw new IllegalArgumentException(getClass().getSimpleName() + " needs the columns event_id, "
                            + String.join(", ", numbers) + "; the input has " + names);
                }
            }
            fields = found;
        }
        Step s = new Step();
        TimeContext<Long> time = ctx.timeContext(Long.class);
        s.ts = time.time();
        s.eventId = (String) input.getField(fields[0]);
        for (int i = 1; i < fields.length; i++) {
            Object v = input.getField(fields[i]);
            if (v == null) {
                return false;
            }
            double d = ((Number) v).doubleValue();
            if (i == 1) {
                s.a = d;
            } else if (i == 2) {
                s.b = d;
            } else {
                s.c = d;
            }
        }
        pending.add(s);
        time.registerOnTime(s.ts);
        return true;
    }

    /**
     * Forgets a key's state entry {@code state} when its FORGET timer fired, and the timer's name in Flink's
     * per-key map of named timers (Flink 2.2 does not empty it when the timer fires: each forgotten key
     * would leave an entry behind for good).
     */
    static void forget(OnTimerContext ctx, String state) {
        ctx.clearState(state);
        ctx.timeContext(Long.class).clearTimer(FORGET);
    }

    /** The pending rows the watermark has passed, in event-time order (taken out of the list). */
    static List<Step> due(OnTimerContext ctx, ListView<Step> pending) throws Exception {
        return DueRows.take(pending, ctx.timeContext(Long.class).time(), s -> s.ts, ORDER);
    }

    /**
     * A restored operator learns its parameters from its first row: a timer that fires before that is
     * registered again a millisecond later (true: the caller returns).
     */
    boolean deferred(OnTimerContext ctx) {
        if (paramsText != null) {
            return false;
        }
        TimeContext<Long> time = ctx.timeContext(Long.class);
        if (FORGET.equals(ctx.currentTimer())) {
            time.registerOnTime(FORGET, time.time() + 1);
        } else {
            time.registerOnTime(time.time() + 1);
        }
        return true;
    }
}
