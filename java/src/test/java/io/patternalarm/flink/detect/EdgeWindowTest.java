package io.patternalarm.flink.detect;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/** EdgeWindow keeps the semantics of velocity's two SQL over-windows (RANGE window, then ROWS 1 PRECEDING). */
class EdgeWindowTest {
    private static final EdgeWindow.Params P = EdgeWindow.Params.parse(
            "window_s=60;max_count=4;max_sum=2500.0;memory_min=20");

    /** feeds rows one time at a time (every row of a time added before any is judged), returns what each saw. */
    private static List<EdgeWindow.Seen> feed(EdgeWindow.State s, long[] ts, double[] values) {
        List<EdgeWindow.Seen> seen = new ArrayList<>();
        int i = 0;
        while (i < ts.length) {
            int j = i;
            while (j < ts.length && ts[j] == ts[i]) {
                EdgeWindow.add(s, P, ts[j], values[j], "e" + j);
                j++;
            }
            for (int k = i; k < j; k++) {
                seen.add(EdgeWindow.judge(s, P));
            }
            i = j;
        }
        return seen;
    }

    @Test
    void theFifthAuthInAWindowIsTheEdgeAndTheSixthIsNot() {
        EdgeWindow.State s = new EdgeWindow.State();
        List<EdgeWindow.Seen> seen = feed(s, new long[] {0, 10_000, 20_000, 30_000, 40_000, 50_000},
                new double[] {1, 1, 1, 1, 1, 1});
        assertFalse(seen.get(3).edge());
        assertTrue(seen.get(4).edge());
        assertEquals(5, seen.get(4).count());
        assertEquals("e0", seen.get(4).firstId());
        assertEquals(0L, seen.get(4).firstTs());
        assertFalse(seen.get(5).edge()); // still hot: not a rising edge
        assertEquals(6, seen.get(5).count());
    }

    @Test
    void aRowExactlyAWindowBeforeIsStillInRange() {
        EdgeWindow.State s = new EdgeWindow.State();
        List<EdgeWindow.Seen> seen = feed(s, new long[] {0, 20_000, 40_000, 59_000, 60_000, 60_001},
                new double[] {1, 1, 1, 1, 1, 1});
        assertTrue(seen.get(4).edge()); // the row at 0 is 60 s before 60,000: in range, five rows
        assertEquals(5, seen.get(4).count());
        assertEquals(5, seen.get(5).count()); // at 60,001 the row at 0 is out
        assertEquals("e1", seen.get(5).firstId());
    }

    @Test
    void rowsOfOneTimeSeeEachOtherAndOnlyTheFirstIsTheEdge() {
        EdgeWindow.State s = new EdgeWindow.State();
        List<EdgeWindow.Seen> seen = feed(s, new long[] {0, 1, 2, 3, 3}, new double[] {1, 1, 1, 1, 1});
        assertFalse(seen.get(2).edge());
        assertEquals(5, seen.get(3).count()); // both rows of time 3 count for both
        assertEquals(5, seen.get(4).count());
        assertTrue(seen.get(3).edge());
        assertFalse(seen.get(4).edge());
    }

    @Test
    void aSumAboveTheLimitFiresOnceAndTheLastHotRowIsRememberedForTheMemory() {
        EdgeWindow.State s = new EdgeWindow.State();
        List<EdgeWindow.Seen> seen = feed(s, new long[] {0, 120_000}, new double[] {3000, 2600});
        assertTrue(seen.get(0).edge());
        assertEquals(3000.0, seen.get(0).sum(), 1e-9);
        assertFalse(seen.get(1).edge()); // hot at the previous auth, two minutes before: no new edge
        assertEquals(1, seen.get(1).count());
        assertEquals(120_000 + 1_200_000, EdgeWindow.forgetAt(s, P)); // the memory after a hot row
        EdgeWindow.State cold = new EdgeWindow.State();
        feed(cold, new long[] {5}, new double[] {10});
        assertEquals(5 + 60_001, EdgeWindow.forgetAt(cold, P)); // a window after a cold row
    }

    @Test
    void parametersAreCheckedWithAClearError() {
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> EdgeWindow.Params.parse("window_s=1;max_count=4;max_sum=1"));
        assertTrue(missing.getMessage().contains("memory_min"), missing.getMessage());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> EdgeWindow.Params.parse("window_s=soon;max_count=4;max_sum=1;memory_min=1"));
        assertTrue(bad.getMessage().contains("window_s"), bad.getMessage());
    }

    /** the edges of catalog v3's impossible_apm SQL (a ROWS window of the last n rows, then ROWS 1
     * PRECEDING on its flag): row i is fast when i >= n - 1 and ts[i] - ts[i - n + 1] < (n - 1) x 60000 / r. */
    private static List<long[]> rowsWindowEdges(long[] ts, int n, double r) {
        List<long[]> edges = new ArrayList<>();
        boolean before = false;
        for (int i = 0; i < ts.length; i++) {
            boolean hot = i >= n - 1 && ts[i] - ts[i - n + 1] < (n - 1) * 60_000.0 / r;
            if (hot && !before) {
                edges.add(new long[] {i, i - n + 1, n});
            }
            before = hot;
        }
        return edges;
    }

    private static List<long[]> paceEdges(long[] ts, EdgeWindow.Params p) {
        EdgeWindow.State s = new EdgeWindow.State();
        List<long[]> edges = new ArrayList<>();
        for (int i = 0; i < ts.length; i++) {
            EdgeWindow.add(s, p, ts[i], 0.0, Integer.toString(i));
            EdgeWindow.Seen seen = EdgeWindow.judge(s, p);
            if (seen.edge()) {
                edges.add(new long[] {i, Long.parseLong(seen.firstId()), seen.count()});
            }
        }
        return edges;
    }

    @Test
    void thePaceFormGivesTheEdgesOfTheRowsWindowItReplaces() {
        EdgeWindow.Params pace = EdgeWindow.Params.parse("pace_rows=100;pace_per_min=300;memory_min=20");
        assertEquals(19_799, pace.windowMs()); // spans below 19,800 ms are fast
        java.util.Random rng = new java.util.Random(20261204);
        int edges = 0;
        for (int run = 0; run < 300; run++) {
            long[] ts = new long[600];
            long t = 0;
            boolean burst = false;
            for (int i = 0; i < ts.length; i++) {
                if (rng.nextInt(60) == 0) {
                    burst = !burst;
                }
                t += burst ? 150 + rng.nextInt(110) : 1 + rng.nextInt(2_000); // around the limit's 200 ms a row
                ts[i] = t;
            }
            List<long[]> expected = rowsWindowEdges(ts, 100, 300);
            List<long[]> got = paceEdges(ts, pace);
            assertEquals(expected.size(), got.size(), "run " + run);
            for (int k = 0; k < expected.size(); k++) {
                assertArrayEquals(expected.get(k), got.get(k), "run " + run + ", edge " + k);
            }
            edges += expected.size();
        }
        assertTrue(edges > 50, "the runs must contain edges to compare: " + edges);
    }

    @Test
    void aPaceExactlyAtTheLimitIsNotFast() {
        EdgeWindow.Params pace = EdgeWindow.Params.parse("pace_rows=100;pace_per_min=300;memory_min=20");
        long[] atLimit = new long[100];
        long[] justFaster = new long[100];
        for (int i = 0; i < 100; i++) {
            atLimit[i] = i * 200L; // 99 gaps of 200 ms: 19,800 ms, exactly 300 a minute
            justFaster[i] = i == 99 ? 19_799 : i * 200L;
        }
        assertTrue(paceEdges(atLimit, pace).isEmpty());
        assertEquals(1, paceEdges(justFaster, pace).size());
        assertEquals(List.of(), rowsWindowEdges(atLimit, 100, 300));
    }

    @Test
    void paceParametersAreChecked() {
        assertThrows(IllegalArgumentException.class,
                () -> EdgeWindow.Params.parse("pace_rows=1;pace_per_min=300;memory_min=20"));
        assertThrows(IllegalArgumentException.class,
                () -> EdgeWindow.Params.parse("pace_rows=100;pace_per_min=0;memory_min=20"));
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> EdgeWindow.Params.parse("pace_rows=100;memory_min=20"));
        assertTrue(missing.getMessage().contains("pace_per_min"), missing.getMessage());
    }
}
