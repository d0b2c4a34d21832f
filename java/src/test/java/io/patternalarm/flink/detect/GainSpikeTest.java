package io.patternalarm.flink.detect;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

/** GainSpike decides what catalog v7's SQL decided (TUMBLE sums, then the norm and rising-edge over-windows), earlier. */
class GainSpikeTest {
    private static final GainSpike.Params P = GainSpike.Params.parse(
            "window_s=10;history_windows=12;min_history_windows=3;spike_factor=10.0;min_gain=1000.0;memory_min=20");

    /** the spikes of rows fed in order ({@code ts[i]}, {@code amounts[i]}, id {@code e<i>}), keyed by row index. */
    private static Map<Integer, GainSpike.Spike> feed(GainSpike.State s, GainSpike.Params p, long[] ts,
                                                      double[] amounts) {
        Map<Integer, GainSpike.Spike> out = new LinkedHashMap<>();
        for (int i = 0; i < ts.length; i++) {
            GainSpike.Spike spike = GainSpike.add(s, p, ts[i], amounts[i], "e" + i);
            if (spike != null) {
                out.put(i, spike);
            }
        }
        return out;
    }

    @Test
    void firesAtTheRowThatCrossesNotWhenTheWindowCloses() {
        // four windows of 50, then a window of 100, 2,000 (crosses 10 x 50 and 1,000) and 3,000
        long[] ts = {1_000, 11_000, 21_000, 31_000, 41_000, 43_000, 45_000};
        double[] amounts = {50, 50, 50, 50, 100, 2_000, 3_000};
        Map<Integer, GainSpike.Spike> spikes = feed(new GainSpike.State(), P, ts, amounts);
        assertEquals(List.of(5), List.copyOf(spikes.keySet()));
        GainSpike.Spike spike = spikes.get(5);
        assertEquals("e4", spike.firstId()); // the window's first row names the alert, as in v7
        assertEquals(41_000L, spike.firstTs());
        assertEquals(2_100.0, spike.gain());
        assertEquals(50.0, spike.norm());
        assertEquals(4, spike.history());
        assertArrayEquals(new String[] {"e4", "e5"}, spike.ids());
    }

    @Test
    void aHotWindowAfterAHotWindowIsNoEdgeButOneAfterAQuietWindowIs() {
        long[] ts = {0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000};
        double[] amounts = {50, 50, 50, 5_000, 50_000, 10, 500_000};
        // window 3 is hot (edge); window 4 is hot after a hot one (no edge); window 5 is quiet; window 6 hot again
        assertEquals(List.of(3, 6), List.copyOf(feed(new GainSpike.State(), P, ts, amounts).keySet()));
    }

    @Test
    void needsMinHistoryWindowsAndMinGainAndTheFactor() {
        GainSpike.State s = new GainSpike.State();
        assertTrue(feed(s, P, new long[] {0, 10_000, 20_000}, new double[] {50, 50, 5_000}).isEmpty(),
                "two windows of history are not enough");
        assertTrue(feed(new GainSpike.State(), P, new long[] {0, 10_000, 20_000, 30_000},
                new double[] {5, 5, 5, 900}).isEmpty(), "below min_gain");
        assertTrue(feed(new GainSpike.State(), P, new long[] {0, 10_000, 20_000, 30_000},
                new double[] {150, 150, 150, 1_200}).isEmpty(), "not above 10 x the norm");
    }

    @Test
    void theNormIsTheMeanOfTheLastHistoryWindowsOnly() {
        GainSpike.Params p = GainSpike.Params.parse(
                "window_s=10;history_windows=2;min_history_windows=2;spike_factor=10;min_gain=0;memory_min=20");
        // an old big window falls out of a 2-window history: the norm becomes (10 + 10) / 2
        Map<Integer, GainSpike.Spike> spikes = feed(new GainSpike.State(), p,
                new long[] {0, 10_000, 20_000, 30_000}, new double[] {100_000, 10, 10, 101});
        GainSpike.Spike spike = spikes.get(3);
        assertNotNull(spike);
        assertEquals(10.0, spike.norm());
        assertEquals(2, spike.history());
    }

    @Test
    void windowsAreAlignedOnTheEpochAndWindowsWithoutRowsDoNotCount() {
        GainSpike.State s = new GainSpike.State();
        // 9,999 and 10,000 are two windows; the empty windows in between later ones are not history
        assertNull(GainSpike.add(s, P, 9_999, 50, "a"));
        assertNull(GainSpike.add(s, P, 10_000, 50, "b"));
        assertNull(GainSpike.add(s, P, 500_000, 50, "c"));
        GainSpike.Spike spike = GainSpike.add(s, P, 900_000, 5_000, "d");
        assertNotNull(spike);
        assertEquals(3, spike.history());
        assertEquals(500_000 + P.memoryMs(), GainSpike.forgetAt(feedOne(500_000), P));
    }

    private static GainSpike.State feedOne(long ts) {
        GainSpike.State s = new GainSpike.State();
        GainSpike.add(s, P, ts, 1, "x");
        return s;
    }

    @Test
    void parametersAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> GainSpike.Params.parse("window_s=10"));
        assertThrows(IllegalArgumentException.class, () -> GainSpike.Params.parse(
                "window_s=0;history_windows=12;min_history_windows=3;spike_factor=10;min_gain=0;memory_min=20"));
    }

    /** The alerts of catalog v7's SQL over rows in event-time order: the first row of every rising-edge window. */
    private static List<String> sqlAlerts(GainSpike.Params p, long[] ts, double[] amounts) {
        Map<Long, double[]> sums = new LinkedHashMap<>(); // window start -> {sum}
        Map<Long, String> first = new LinkedHashMap<>();
        for (int i = 0; i < ts.length; i++) {
            long start = Math.floorDiv(ts[i], p.windowMs()) * p.windowMs();
            sums.computeIfAbsent(start, k -> new double[1])[0] += amounts[i];
            first.putIfAbsent(start, "e" + i);
        }
        List<Double> gains = new ArrayList<>();
        List<String> alerts = new ArrayList<>();
        boolean previousHot = false;
        for (Map.Entry<Long, double[]> w : sums.entrySet()) {
            double gain = w.getValue()[0];
            int from = Math.max(0, gains.size() - p.historyWindows());
            List<Double> history = gains.subList(from, gains.size());
            double norm = history.stream().mapToDouble(Double::doubleValue).sum() / Math.max(history.size(), 1);
            boolean hot = history.size() >= p.minHistoryWindows() && gain > p.spikeFactor() * norm
                    && gain >= p.minGain();
            if (hot && !previousHot) {
                alerts.add(first.get(w.getKey()));
            }
            previousHot = hot;
            gains.add(gain);
        }
        return alerts;
    }

    @Test
    void raisesTheAlertsOfTheSqlItReplacesOnRandomHeavyTailedSeries() {
        Random random = new Random(7);
        int alerts = 0;
        for (int run = 0; run < 300; run++) {
            int n = 20 + random.nextInt(200);
            long[] ts = new long[n];
            double[] amounts = new double[n];
            long t = random.nextInt(100_000);
            for (int i = 0; i < n; i++) {
                t += random.nextInt(4) == 0 ? 0 : random.nextInt(15_000); // ties and empty windows too
                ts[i] = t;
                double u = random.nextDouble();
                amounts[i] = u < 0.05 ? 200 + random.nextDouble() * 20_000 : 1 + random.nextDouble() * 120;
            }
            List<String> expected = sqlAlerts(P, ts, amounts);
            List<String> got = new ArrayList<>();
            for (GainSpike.Spike s : feed(new GainSpike.State(), P, ts, amounts).values()) {
                got.add(s.firstId());
            }
            assertEquals(expected, got, "run " + run);
            alerts += expected.size();
        }
        assertTrue(alerts > 50, "the random series raise alerts to compare: " + alerts);
    }
}
