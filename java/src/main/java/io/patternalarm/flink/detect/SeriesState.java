package io.patternalarm.flink.detect;

/**
 * The per-series state of {@link SeriesModel} (public fields: Flink keeps it as a structured type).
 * A few dozen numbers per series (plus 24 or 168 seasonal offsets when seasonality is on).
 */
public class SeriesState {
    /** readings seen; event time of the last one; learned spacing (ms). */
    public long n;
    public long firstSeen;
    public long lastTs;
    public double cadence;
    /** baseline: level, variance, long-run variance (the scale floor); warm-up accumulators. */
    public double mean;
    public double var;
    public double longVar;
    public double wMean;
    public double wM2;
    /** detector accumulators. */
    public double cusumUp;
    public double cusumDown;
    public double varUp;
    public double varDown;
    /** a quick local mean (the variance detector's reference). */
    public double local;
    /** the spread of readings around that local mean (learned like the baseline's). */
    public double localVar;
    public double fast;
    /** the current run of identical values and the series' typical run length. */
    public double runValue;
    public long runLength;
    public double typicalRun;
    /** seasonal offsets and the readings each bucket has seen (null without seasonality). */
    public double[] season;
    public long[] seasonCount;
    /** per detector (SeriesModel.DETECTORS order): the open episode. */
    public boolean[] open;
    public String[] firstId;
    public long[] firstTs;
    public int[] seq;
    public double[] maxScore;
    public int[] quiet;
    public long[] readings;
    /** when the idle-cleanup timer is set (event time, ms). */
    public long idleAt;
}
