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
    /** the named forget timer of the jar before 2026-12-04 (state restored from it may still hold one). */
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
     * A key's forget step, at every timer of the key after its due rows are handled: once {@code forgetAt}
     * (event time) has come, the key's state entry {@code state} is forgotten and -1 returned (the caller must
     * not write that state again); otherwise a timer is made sure to fire at {@code forgetAt} and the time the
     * key's forget timer is set for is returned (the caller keeps it in its state: {@code scheduled} is the
     * one it kept, 0 for none). The timer is an unnamed one, like the rows' own: Flink 2.2 keeps every named
     * timer's name in a per-key map entry (one more entry per live key in the heap and in every checkpoint)
     * that firing does not empty. The name of an older jar's FORGET timer is cleared with the state.
     */
    static long forgetOrKeep(OnTimerContext ctx, String state, long forgetAt, long scheduled) {
        TimeContext<Long> time = ctx.timeContext(Long.class);
        long now = time.time();
        if (forgetAt <= now) {
            ctx.clearState(state);
            time.clearTimer(FORGET);
            return -1;
        }
        if (scheduled > now) {
            return scheduled; // a forget timer lies ahead already: it looks again when it fires
        }
        time.registerOnTime(forgetAt);
        return forgetAt;
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
        time.registerOnTime(time.time() + 1);
        return true;
    }
}
