package io.patternalarm.flink.detect;

import java.util.Arrays;

/**
 * The count and sum of an entity's rows in a trailing event-time range (the row's own time and the
 * {@code windowMs} before it, both ends included), and the rising edge of "over the limits": the semantics
 * of a SQL {@code RANGE BETWEEN window PRECEDING AND CURRENT ROW} over-window followed by a {@code ROWS 1
 * PRECEDING} one on its flag (catalog v6's velocity), in a few arrays instead of two operators' whole rows.
 *
 * <p>Rows are fed in event-time order, rows of one time together ({@link #add}, then {@link #judge} for
 * each of them): like the SQL window, every row of a time sees all rows of that time. The state a caller
 * keeps per entity is the arrays and the flag of the last row judged.
 */
public final class EdgeWindow {
    private EdgeWindow() {
    }

    /** The limits: more rows than {@code maxCount} or a sum above {@code maxSum} is "hot". */
    public record Params(long windowMs, long maxCount, double maxSum, long memoryMs, int keepRows) {
        /**
         * {@code window_s=…;max_count=…;max_sum=…;memory_min=…} (every key required), or the pace form
         * {@code pace_rows=N;pace_per_min=R;memory_min=…}: hot when the last N rows came faster than R a
         * minute on average, i.e. N rows less than (N − 1) × 60,000 / R ms apart (catalog v9's impossible_apm;
         * the window then holds the rows strictly less than that before the row, at most the last N of them
         * — all a rising edge needs: the row that makes it fast is the N-th — and no sum limit).
         */
        public static Params parse(String text) {
            java.util.Map<String, String> kv = KeyValues.parse(text, "window_edges parameter");
            long memoryMs = Math.round(KeyValues.doubleOf(kv, "memory_min") * 60_000);
            if (kv.containsKey("pace_rows")) {
                long rows = KeyValues.longOf(kv, "pace_rows");
                double perMin = KeyValues.doubleOf(kv, "pace_per_min");
                if (rows < 2 || rows > 100_000 || !(perMin > 0)) {
                    throw new IllegalArgumentException("pace_rows must be from 2 to 100000 and pace_per_min positive");
                }
                // the largest whole span (ms) below (N - 1) x 60,000 / R: a span d is fast when d < that bound
                long windowMs = (long) Math.ceil((rows - 1) * 60_000.0 / perMin) - 1;
                return new Params(windowMs, rows - 1, Double.POSITIVE_INFINITY, memoryMs, (int) rows);
            }
            return new Params(Math.round(KeyValues.doubleOf(kv, "window_s") * 1000), KeyValues.longOf(kv, "max_count"),
                    KeyValues.doubleOf(kv, "max_sum"), memoryMs, 0);
        }
    }

    /** One entity's window: times, values and ids of the rows in range (oldest first), the last row's flag. */
    public static final class State {
        public long[] ts = new long[0];
        public double[] values = new double[0];
        public String[] ids = new String[0];
        public boolean hot;
        public long lastTs;
    }

    /** What a row sees: the rows in range, their sum, the oldest of them; {@code edge}: hot now, not before. */
    public record Seen(long count, double sum, String firstId, long firstTs, boolean edge) {
    }

    /** Adds a row of time {@code ts} (not older than the last one added) and drops the rows out of range. */
    public static void add(State s, Params p, long ts, double value, String id) {
        int keep = 0;
        while (keep < s.ts.length && (s.ts[keep] < ts - p.windowMs()
                || (p.keepRows() > 0 && s.ts.length - keep >= p.keepRows()))) {
            keep++;
        }
        int n = s.ts.length - keep;
        long[] ts2 = Arrays.copyOfRange(s.ts, keep, keep + n + 1);
        double[] v2 = Arrays.copyOfRange(s.values, keep, keep + n + 1);
        String[] id2 = Arrays.copyOfRange(s.ids, keep, keep + n + 1);
        ts2[n] = ts;
        v2[n] = value;
        id2[n] = id;
        s.ts = ts2;
        s.values = v2;
        s.ids = id2;
        s.lastTs = ts;
    }

    /** Judges a row of the latest time added: the window as it sees it, and whether it is a rising edge. */
    public static Seen judge(State s, Params p) {
        double sum = 0;
        for (double v : s.values) {
            sum += v;
        }
        long count = s.ts.length;
        boolean hot = count > p.maxCount() || sum > p.maxSum();
        boolean edge = hot && !s.hot;
        s.hot = hot;
        return new Seen(count, sum, s.ids[0], s.ts[0], edge);
    }

    /**
     * When the entity's state can be forgotten: once no later row can see its rows (a window after the
     * last), or, after a hot row, once {@code memoryMs} has passed (until then a next hot row is no edge).
     */
    public static long forgetAt(State s, Params p) {
        return s.lastTs + (s.hot ? Math.max(p.windowMs() + 1, p.memoryMs()) : p.windowMs() + 1);
    }
}
