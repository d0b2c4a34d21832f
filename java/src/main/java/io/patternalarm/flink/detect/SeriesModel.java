package io.patternalarm.flink.detect;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A series' adaptive baseline and the detectors built on it — pure Java, driven one reading at a
 * time in event-time order ({@link #update}); the state lives in a {@link SeriesState} so that a Flink
 * function can keep it in managed state.
 *
 * <p><b>Baseline.</b> Level and scale are exponentially weighted in EVENT time: a reading Δt after the
 * previous one weighs {@code 1 - exp(-Δt / (horizon_readings × cadence))}, the cadence being the
 * series' own typical spacing (learned). Residuals are clipped to clip_z scales before they update
 * it, so anomalies barely move the baseline. With seasonality, a per-bucket offset (hour of day or of
 * week, UTC) is learned on top. Every statistic is a residual divided by the series' own scale, so
 * the alerts of {@code x} and {@code a·x + b} (a > 0) are the same; the scale has a floor of a tenth
 * of its own long-run value (a series that was constant and moves is infinitely surprising).
 *
 * <p><b>Detectors</b> (each a rule kind): spike (one residual beyond spike_z), level_shift (two-sided
 * CUSUM of the residuals, allowance shift_k, decision interval shift_h), variance (CUSUMs of the
 * log-likelihood ratio of a spread var_ratio times larger or smaller, on residuals from a quick local
 * mean, decision interval var_h), drift (mean of the last drift_readings
 * readings beyond drift_z from the baseline), stuck (identical consecutive readings, at least
 * stuck_readings and stuck_factor × the series' typical run), out_of_range (outside the configured
 * range of the reading's range key).
 *
 * <p><b>Episodes.</b> A detector whose condition starts holding opens an episode: one alert, anchored
 * on that reading's event id. While it holds, a reading whose score beats the episode's best by 0.05
 * updates the alert (same anchor, next {@code seq}). After quiet_readings readings without it, the
 * episode closes; the next one is a new alert. Score: {@code 1 - 0.5^(statistic / threshold)} — 0.5 at
 * the threshold, towards 1 beyond it, comparable across kinds.
 */
public final class SeriesModel {
    public static final String SPIKE = "spike";
    public static final String LEVEL_SHIFT = "level_shift";
    public static final String VARIANCE = "variance";
    public static final String DRIFT = "drift";
    public static final String STUCK = "stuck";
    public static final String OUT_OF_RANGE = "out_of_range";
    /** detector order = index into the episode arrays of {@link SeriesState}. */
    public static final String[] DETECTORS = {SPIKE, LEVEL_SHIFT, VARIANCE, DRIFT, STUCK, OUT_OF_RANGE};
    private static final double INFINITE_Z = 1e3;
    private static final double VAR_CLIP = 4.5;
    private static final double LOCAL_CLIP = 3.5;
    /** the local mean's weight, and the spread of residuals from it relative to the noise's. */
    private static final double LOCAL_ALPHA = 0.3;
    private static final double LOCAL_SPREAD = Math.sqrt(1 + LOCAL_ALPHA / (2 - LOCAL_ALPHA));

    private SeriesModel() {}

    /** One alert (or alert update) a reading produced. */
    public record Anomaly(String kind, String firstEventId, long firstTs, int seq, long readings, double statistic,
                          double threshold, double score, double expected, double scale) {}

    public static SeriesState fresh() {
        SeriesState s = new SeriesState();
        s.open = new boolean[DETECTORS.length];
        s.firstId = new String[DETECTORS.length];
        s.firstTs = new long[DETECTORS.length];
        s.seq = new int[DETECTORS.length];
        s.maxScore = new double[DETECTORS.length];
        s.quiet = new int[DETECTORS.length];
        s.readings = new long[DETECTORS.length];
        s.typicalRun = 1.0;
        return s;
    }

    static double score(double statistic, double threshold) {
        return 1.0 - Math.pow(0.5, statistic / threshold);
    }

    /** The season bucket of epoch-ms {@code ts}: hour of day (24) or of week (168), UTC; 0 without. */
    static int bucket(long ts, int buckets) {
        if (buckets == 0) {
            return 0;
        }
        long hours = Math.floorDiv(ts, 3_600_000L);
        return (int) Math.floorMod(buckets == 24 ? hours : hours + 72, buckets); // epoch day 0 was a Thursday
    }

    /** both buckets around {@code ts} have at least 3 readings. */
    static boolean learned(SeriesState s, long ts, int buckets) {
        double hours = Math.floorMod(ts + (buckets == 168 ? 72 * 3_600_000L : 0), buckets * 3_600_000L) / 3_600_000.0;
        int b0 = (int) Math.floor(hours - 0.5);
        return s.seasonCount[Math.floorMod(b0, buckets)] >= 3 && s.seasonCount[Math.floorMod(b0 + 1, buckets)] >= 3;
    }

    /** The seasonal offset at {@code ts}: linear between the centres of the two nearest buckets (a
     * bucket with fewer than 3 readings counts as 0). */
    static double seasonal(SeriesState s, long ts, int buckets) {
        if (buckets == 0) {
            return 0.0;
        }
        double hours = Math.floorMod(ts + (buckets == 168 ? 72 * 3_600_000L : 0), buckets * 3_600_000L) / 3_600_000.0;
        double pos = hours - 0.5;
        int b0 = (int) Math.floor(pos);
        double w = pos - b0;
        int i0 = Math.floorMod(b0, buckets);
        int i1 = Math.floorMod(b0 + 1, buckets);
        double v0 = s.seasonCount[i0] >= 3 ? s.season[i0] : 0.0;
        double v1 = s.seasonCount[i1] >= 3 ? s.season[i1] : 0.0;
        return (1 - w) * v0 + w * v1;
    }

    /**
     * Feed one reading (in event-time order); returns the alerts it opens or updates. {@code rangeKey}
     * chooses the range (its own entry, else the part after its last '/').
     */
    public static List<Anomaly> update(SeriesState s, SeriesParams p, long ts, String eventId, double x,
                                       String rangeKey) {
        List<Anomaly> out = new ArrayList<>(1);
        if (s.open == null) {
            SeriesState init = fresh();
            s.open = init.open;
            s.firstId = init.firstId;
            s.firstTs = init.firstTs;
            s.seq = init.seq;
            s.maxScore = init.maxScore;
            s.quiet = init.quiet;
            s.readings = init.readings;
            s.typicalRun = init.typicalRun;
        }
        if (p.seasonBuckets > 0 && (s.season == null || s.season.length != p.seasonBuckets)) {
            s.season = new double[p.seasonBuckets];
            s.seasonCount = new long[p.seasonBuckets];
        }
        // cadence: the series' own spacing (a long gap counts as at most 10 cadences)
        long dt = s.n > 0 ? Math.max(0, ts - s.lastTs) : 0;
        if (s.n > 0 && dt > 0) {
            s.cadence = s.cadence <= 0 ? dt : s.cadence + 0.05 * (Math.min(dt, 10 * s.cadence) - s.cadence);
        }
        if (s.n == 0) {
            s.firstSeen = ts;
        }
        // seasonality matters for series measured in minutes or slower (at 1 Hz a day is far beyond the
        // horizon); such a series is judged once two whole periods have been seen (the first one's
        // offsets are learned against a baseline that is still settling)
        int buckets = p.seasonBuckets > 0 && s.cadence >= 60_000 ? p.seasonBuckets : 0;
        int b = bucket(ts, buckets);
        double seasonal = seasonal(s, ts, buckets);
        boolean seasonLearned = buckets == 0
                || (ts - s.firstSeen >= 2 * buckets * 3_600_000L && learned(s, ts, buckets));
        double y = x - seasonal; // deseasonalised

        // stuck: runs of identical values (counted from the first reading)
        if (s.runLength > 0 && x == s.runValue) {
            s.runLength++;
        } else {
            if (s.runLength > 1) {
                s.typicalRun += 0.05 * (s.runLength - s.typicalRun);
            }
            s.runValue = x;
            s.runLength = 1;
        }

        boolean[] cond = new boolean[DETECTORS.length];
        double[] stat = new double[DETECTORS.length];
        double[] thr = new double[DETECTORS.length];
        double scale = Math.sqrt(Math.max(s.var, 0));
        if (p.priorWeight > 0 && s.n >= p.warmupReadings) {
            double seen = Math.min(s.n, p.horizonReadings);
            scale = Math.sqrt((seen * Math.max(s.var, 0) + p.priorWeight * p.priorScale * p.priorScale)
                    / (seen + p.priorWeight));
        }
        double expected = s.mean + seasonal;
        if (s.n < p.warmupReadings) {
            // Welford mean/variance of the first readings: the baseline's start
            double delta = y - s.wMean;
            s.wMean += delta / (s.n + 1);
            s.wM2 += delta * (y - s.wMean);
            if (s.n + 1 == p.warmupReadings) {
                s.mean = s.wMean;
                s.var = s.wM2 / Math.max(1, s.n);
                s.longVar = s.var;
                s.fast = s.mean;
                s.local = s.mean;
                s.localVar = s.var * LOCAL_SPREAD * LOCAL_SPREAD;
            }
        } else {
            double floor = 0.1 * Math.sqrt(Math.max(s.longVar, 0));
            double denom = Math.max(scale, floor);
            double r = y - s.mean;
            double z = denom > 0 ? r / denom : (r == 0 ? 0.0 : Math.copySign(INFINITE_Z, r));
            z = Math.max(-INFINITE_Z, Math.min(INFINITE_Z, z));
            double signed = p.direction == 0 ? Math.abs(z) : p.direction * z;

            // spike
            stat[0] = signed;
            thr[0] = p.spikeZ;
            cond[0] = signed > p.spikeZ;
            // level shift: two-sided CUSUM of residuals clipped to half the decision interval
            double zc = Math.max(-p.shiftH / 2, Math.min(p.shiftH / 2, z));
            s.cusumUp = Math.max(0, s.cusumUp + zc - p.shiftK);
            s.cusumDown = Math.max(0, s.cusumDown - zc - p.shiftK);
            double cusum = p.direction > 0 ? s.cusumUp : p.direction < 0 ? s.cusumDown : Math.max(s.cusumUp, s.cusumDown);
            stat[1] = cusum;
            thr[1] = p.shiftH;
            cond[1] = cusum > p.shiftH;
            // variance: CUSUMs of the log-likelihood ratio of "the spread grew / shrank by var_ratio", on the
            // residuals from a quick local mean (a level shift leaves it within a few readings; the spread
            // of a noisier series stays), in the baseline's scale, clipped at 4.5 scales (the local mean's
            // step at 3.5: a single spike is not a variance change)
            double rl = y - s.local;
            double localScale = Math.max(Math.sqrt(Math.max(s.localVar, 0)), floor * LOCAL_SPREAD);
            double zl = localScale > 0 ? rl / localScale : 0.0;
            double zz = Math.min(zl * zl, VAR_CLIP * VAR_CLIP);
            // the spread is an estimate from the m readings seen (an EWMA remembers ~2 horizons of them), off
            // by sqrt(2/m) relative: the CUSUMs use a bound that many standard errors beyond it, for the error a
            // young baseline has beyond a learned one's (the decision interval is calibrated on those)
            double bound = 1 + p.varConfidence * Math.max(0.0, Math.sqrt(2.0 / Math.max(1.0,
                    Math.min(s.n, 2.0 * p.horizonReadings))) - Math.sqrt(1.0 / p.horizonReadings));
            double rho2 = p.varRatio * p.varRatio;
            double lnRho = Math.log(p.varRatio);
            s.varUp = Math.max(0, s.varUp + zz / bound * (1 - 1 / rho2) / 2 - lnRho);
            s.varDown = Math.max(0, s.varDown - zz * bound * (rho2 - 1) / 2 + lnRho);
            s.local += LOCAL_ALPHA * Math.max(-LOCAL_CLIP * denom, Math.min(LOCAL_CLIP * denom, rl));
            double alphaLocal = s.cadence > 0 ? 1 - Math.exp(-dt / (p.horizonReadings * s.cadence)) : 1.0 / p.horizonReadings;
            int vd = p.varianceDirection();
            double varStat = vd > 0 ? s.varUp : vd < 0 ? s.varDown : Math.max(s.varUp, s.varDown);
            long judged = s.n - p.warmupReadings;
            stat[2] = varStat;
            thr[2] = p.varH;
            cond[2] = judged >= p.varReadings && varStat > p.varH;
            // drift: recent mean away from the baseline
            double af = 2.0 / (p.driftReadings + 1);
            s.fast += af * Math.max(-p.clipZ * denom, Math.min(p.clipZ * denom, y - s.fast));
            double d = denom > 0 ? (s.fast - s.mean) / denom : 0.0;
            double dSigned = p.direction == 0 ? Math.abs(d) : p.direction * d;
            stat[3] = dSigned;
            thr[3] = p.driftZ;
            cond[3] = judged >= p.driftReadings && dSigned > p.driftZ;

            // the baseline learns from the reading, clipped (anomalies barely move it)
            double alpha = s.cadence > 0 ? 1 - Math.exp(-dt / (p.horizonReadings * s.cadence)) : 1.0 / p.horizonReadings;
            double limit = p.clipZ * denom;
            double rc = denom > 0 ? Math.max(-limit, Math.min(limit, r)) : 0.0;
            s.mean += alpha * rc;
            if (!cond[1] && !cond[3]) { // while the level is off, its residuals are not the series' spread
                s.var = (1 - alpha) * s.var + alpha * rc * rc;
                s.longVar += alpha / 10 * (rc * rc - s.longVar);
            }
            if (!cond[2]) { // the spread around the local mean, learned the same way (not while it is off)
                double lc = Math.min(rl * rl, VAR_CLIP * VAR_CLIP * localScale * localScale);
                s.localVar += alphaLocal * (lc - s.localVar);
            }
        }
        if (buckets > 0 && s.n >= p.warmupReadings) {
            double rs = x - s.mean - seasonal;
            double limit = p.clipZ * Math.max(scale, 0.1 * Math.sqrt(Math.max(s.longVar, 0)));
            double rsc = limit > 0 ? Math.max(-limit, Math.min(limit, rs)) : rs;
            s.seasonCount[b]++;
            s.season[b] += Math.max(1.0 / s.seasonCount[b], 1.0 / p.horizonReadings) * rsc;
        }
        // stuck is judged from the first reading on; range from the first reading on
        double runThreshold = Math.max(p.stuckReadings, p.stuckFactor * s.typicalRun);
        stat[4] = s.runLength;
        thr[4] = runThreshold;
        cond[4] = s.runLength >= runThreshold;
        double[] range = rangeFor(p.ranges, rangeKey);
        if (range != null) {
            double width = range[1] - range[0];
            double outside = x < range[0] ? range[0] - x : x > range[1] ? x - range[1] : 0;
            stat[5] = 1 + outside / width;
            thr[5] = 1;
            cond[5] = outside > 0;
        }

        if (!seasonLearned) { // the baseline-relative detectors wait for the season, accumulating nothing
            java.util.Arrays.fill(cond, 0, 4, false);
            s.cusumUp = s.cusumDown = s.varUp = s.varDown = 0;
        }
        for (int k = 0; k < DETECTORS.length; k++) {
            if (!p.kinds.contains(DETECTORS[k])) {
                continue;
            }
            if (cond[k]) {
                double sc = k == 5 ? 1.0 : score(stat[k], thr[k]);
                s.quiet[k] = 0;
                if (!s.open[k]) {
                    s.open[k] = true;
                    s.firstId[k] = eventId;
                    s.firstTs[k] = ts;
                    s.seq[k] = 1;
                    s.maxScore[k] = sc;
                    s.readings[k] = 1;
                    out.add(new Anomaly(DETECTORS[k], eventId, ts, 1, 1, stat[k], thr[k], sc, expected, scale));
                } else {
                    s.readings[k]++;
                    if (sc >= s.maxScore[k] + 0.05) {
                        s.maxScore[k] = sc;
                        s.seq[k]++;
                        out.add(new Anomaly(DETECTORS[k], s.firstId[k], s.firstTs[k], s.seq[k], s.readings[k], stat[k],
                                thr[k], sc, expected, scale));
                    }
                }
            } else if (s.open[k]) {
                s.readings[k]++;
                if (++s.quiet[k] >= p.quietReadings) {
                    s.open[k] = false;
                    s.firstId[k] = null;
                }
            }
        }
        s.n++;
        s.lastTs = ts;
        return out;
    }

    static double[] rangeFor(Map<String, double[]> ranges, String key) {
        if (key == null || ranges.isEmpty()) {
            return null;
        }
        double[] own = ranges.get(key);
        if (own != null) {
            return own;
        }
        int slash = key.lastIndexOf('/');
        return slash >= 0 ? ranges.get(key.substring(slash + 1)) : null;
    }
}
