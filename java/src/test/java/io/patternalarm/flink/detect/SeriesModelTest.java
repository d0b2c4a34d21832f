package io.patternalarm.flink.detect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

/**
 * The detectors' promises on seeded series (the same properties the integration tests check through
 * Flink): scale/offset invariance, a clean seasonal series is quiet, injected anomalies are found
 * within 12 readings.
 */
class SeriesModelTest {
    static final long START = 1_767_225_600_000L; // 2026-01-01
    static final long FIVE_MIN = 300_000L;

    /** a clean series: level + daily sine (amplitude 5 noise sds) + Gaussian noise, 5-minute spacing. */
    static double[] clean(int n, long seed, double level, double noise) {
        Random r = new Random(seed);
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            double day = (i * FIVE_MIN) / 86_400_000.0;
            x[i] = level + 5 * noise * Math.sin(2 * Math.PI * day + seed) + noise * r.nextGaussian();
        }
        return x;
    }

    record Alert(String kind, String firstId, int seq, int index) {}

    static List<Alert> run(double[] x, SeriesParams p) {
        SeriesState s = new SeriesState();
        List<Alert> out = new ArrayList<>();
        for (int i = 0; i < x.length; i++) {
            for (SeriesModel.Anomaly a : SeriesModel.update(s, p, START + i * FIVE_MIN, "e" + i, x[i], null)) {
                out.add(new Alert(a.kind(), a.firstEventId(), a.seq(), i));
            }
        }
        return out;
    }

    static long opened(List<Alert> alerts) {
        return alerts.stream().filter(a -> a.seq() == 1).count();
    }

    @Test
    void aCleanSeasonalSeriesIsQuiet() {
        long readings = 0;
        long alerts = 0;
        for (long seed = 1; seed <= 10; seed++) {
            double[] x = clean(60 * 288, seed, 20 + seed, 0.5 + seed / 10.0);
            List<Alert> found = run(x, new SeriesParams());
            readings += x.length;
            alerts += opened(found);
            if (!found.isEmpty()) {
                System.out.println("seed " + seed + ": " + found.stream().filter(a -> a.seq() == 1).toList());
            }
        }
        double per10k = alerts * 10_000.0 / readings;
        System.out.printf("clean seasonal: %d alerts in %d readings = %.2f per 10,000%n", alerts, readings, per10k);
        assertTrue(per10k <= 1.0, "at most 1 alert per 10,000 readings, got " + per10k);
    }

    @Test
    void scaleAndOffsetDoNotChangeTheAlerts() {
        double[] x = clean(20 * 288, 7, 3, 1);
        x[3000] += 9; // a spike
        for (int i = 4000; i < 4100; i++) {
            x[i] += 4; // a level shift
        }
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] * 1000 + 7;
        }
        List<Alert> a = run(x, new SeriesParams());
        assertTrue(a.size() >= 2, "the injected anomalies alert: " + a);
        assertEquals(a, run(y, new SeriesParams()));
    }

    /** inject kind at a random place of each of many clean series; found = an alert within 12 readings. */
    static double recall(String kind, int trials) {
        int found = 0;
        Random r = new Random(42);
        for (int t = 0; t < trials; t++) {
            double noise = 0.5 + r.nextDouble();
            double[] x = clean(30 * 288, 100 + t, 10 * r.nextDouble(), noise);
            int at = 10 * 288 + r.nextInt(15 * 288);
            switch (kind) {
                case "spike" -> x[at] += (r.nextBoolean() ? 1 : -1) * 8 * noise;
                case "level_shift" -> {
                    double d = (r.nextBoolean() ? 1 : -1) * 4 * noise;
                    for (int i = at; i < x.length; i++) {
                        x[i] += d;
                    }
                }
                case "variance" -> {
                    Random g = new Random(t);
                    for (int i = at; i < Math.min(x.length, at + 288); i++) {
                        x[i] += Math.sqrt(8) * noise * g.nextGaussian(); // the noise's sd x3
                    }
                }
                case "trend" -> {
                    double slope = (r.nextBoolean() ? 1 : -1) * 0.5 * noise;
                    for (int i = at; i < x.length; i++) {
                        x[i] += slope * (i - at);
                    }
                }
                default -> throw new IllegalArgumentException(kind);
            }
            List<Alert> alerts = run(x, new SeriesParams());
            boolean hit = alerts.stream().anyMatch(a -> a.seq() == 1 && a.index() >= at && a.index() < at + 12);
            found += hit ? 1 : 0;
            if (!hit) {
                System.out.println(kind + " missed at " + at + ": " + alerts.stream().filter(a -> a.index() >= at - 20
                        && a.index() < at + 40).toList());
            }
        }
        double recall = found / (double) trials;
        System.out.printf("%s: recall within 12 readings %.2f%n", kind, recall);
        return recall;
    }

    @Test
    void injectedAnomaliesAreFoundWithin12Readings() {
        java.util.Map<String, Double> recalls = new java.util.TreeMap<>();
        for (String kind : List.of("spike", "level_shift", "variance", "trend")) {
            recalls.put(kind, recall(kind, 40));
        }
        recalls.forEach((kind, recall) -> assertTrue(recall >= 0.9, kind + ": " + recalls));
    }

    @Test
    void aStuckSensorIsFoundButThreeEqualReadingsAreNot() {
        double[] x = clean(5 * 288, 3, 10, 1);
        for (int i = 1000; i < 1003; i++) {
            x[i] = x[999];
        }
        assertTrue(run(x, new SeriesParams()).stream().noneMatch(a -> a.kind().equals("stuck")));
        for (int i = 1200; i < 1230; i++) {
            x[i] = x[1199];
        }
        assertTrue(run(x, new SeriesParams()).stream().anyMatch(a -> a.kind().equals("stuck") && a.index() < 1215));
    }

    @Test
    void rangesPerTypeAndPerDevice() {
        SeriesParams p = SeriesParams.parse("ranges=temperature:-50:150,dev-7/temperature:0:30;kinds=out_of_range");
        SeriesState s = new SeriesState();
        assertTrue(SeriesModel.update(s, p, START, "a", 40, "dev-1/temperature").isEmpty());
        SeriesState t = new SeriesState();
        assertEquals("out_of_range", SeriesModel.update(t, p, START, "b", 40, "dev-7/temperature").get(0).kind());
    }
}
