package io.patternalarm.flink.detect;

import java.util.Arrays;
import java.util.Map;

/**
 * currency_farming's gain spike (catalog v8): an entity's positive amounts summed in tumbling event-time
 * windows of {@code windowMs} (aligned on the epoch), judged against the mean of its previous windows that had
 * any (up to {@code historyWindows} of them). A window is "hot" when at least {@code minHistoryWindows} such
 * windows exist and its sum is above {@code spikeFactor} × that norm and at least {@code minGain}; the alert is
 * the rising edge: a hot window whose previous window (with amounts) was not.
 *
 * <p>The same decisions as catalog v7's SQL (a TUMBLE window, then two over-windows on it), made as soon as
 * they are certain instead of when the window closes: the amounts are positive, so a window whose running sum
 * has crossed the limits is hot whatever else it receives, and the norm comes from windows that are over.
 * Rows are fed in event-time order (ties by event id), so a window's first row, the one that names the alert,
 * is known with it. What is kept per entity: the sums of the previous windows, the current window's sum, ids
 * (until it is judged hot) and first row, two flags, forgotten {@code memoryMs} of event time after the last row.
 */
public final class GainSpike {
    private GainSpike() {
    }

    public record Params(long windowMs, int historyWindows, int minHistoryWindows, double spikeFactor, double minGain,
                         long memoryMs) {
        /** {@code window_s=…;history_windows=…;min_history_windows=…;spike_factor=…;min_gain=…;memory_min=…}. */
        public static Params parse(String text) {
            Map<String, String> kv = KeyValues.parse(text, "gain_spikes parameter");
            Params p = new Params(Math.round(KeyValues.doubleOf(kv, "window_s") * 1000),
                    (int) KeyValues.longOf(kv, "history_windows"), (int) KeyValues.longOf(kv, "min_history_windows"),
                    KeyValues.doubleOf(kv, "spike_factor"), KeyValues.doubleOf(kv, "min_gain"),
                    Math.round(KeyValues.doubleOf(kv, "memory_min") * 60_000));
            if (p.windowMs() <= 0 || p.historyWindows() < 1 || p.minHistoryWindows() < 1 || p.memoryMs() <= 0) {
                throw new IllegalArgumentException("gain_spikes parameters window_s, history_windows, "
                        + "min_history_windows and memory_min must be positive: " + text);
            }
            return p;
        }
    }

    /**
     * One entity's state (also the Flink state of the function: public fields, a no-argument constructor):
     * the sums of its previous windows with amounts (oldest first), the current window, and when the state
     * may be forgotten.
     */
    public static final class State {
        public double[] history = new double[0];
        public boolean previousHot;
        public long windowStart = Long.MIN_VALUE;
        public double sum;
        public String firstId;
        public long firstTs;
        public String[] ids = new String[0];
        public boolean hot;
        public long lastTs;
        public long forgetAt;
    }

    /** A rising edge, seen at the row that crossed the limits: the window so far and the norm it beat. */
    public record Spike(String firstId, long firstTs, double gain, double norm, int history, String[] ids) {
    }

    /** Adds a row (not older than the last one added); the spike when this row makes its window a rising edge. */
    public static Spike add(State s, Params p, long ts, double amount, String id) {
        long start = Math.floorDiv(ts, p.windowMs()) * p.windowMs();
        if (start != s.windowStart) {
            if (s.windowStart != Long.MIN_VALUE) {
                int keep = Math.min(s.history.length, p.historyWindows() - 1);
                double[] h = Arrays.copyOfRange(s.history, s.history.length - keep, s.history.length + 1);
                h[keep] = s.sum;
                s.history = h;
                s.previousHot = s.hot;
            }
            s.windowStart = start;
            s.sum = 0;
            s.firstId = id;
            s.firstTs = ts;
            s.ids = new String[0];
            s.hot = false;
        }
        s.lastTs = ts;
        s.sum += amount;
        if (s.hot) {
            return null; // judged: the rest of the window cannot change it
        }
        String[] ids = Arrays.copyOf(s.ids, s.ids.length + 1);
        ids[s.ids.length] = id;
        s.ids = ids;
        int n = s.history.length;
        double norm = 0;
        for (double g : s.history) {
            norm += g;
        }
        norm /= Math.max(n, 1);
        if (n >= p.minHistoryWindows() && s.sum > p.spikeFactor() * norm && s.sum >= p.minGain()) {
            s.hot = true;
            s.ids = new String[0];
            if (!s.previousHot) {
                return new Spike(s.firstId, s.firstTs, s.sum, norm, n, ids);
            }
        }
        return null;
    }

    /** When the entity's state can be forgotten: {@code memoryMs} after its last row. */
    public static long forgetAt(State s, Params p) {
        return s.lastTs + p.memoryMs();
    }
}
