package io.patternalarm.flink.detect;

import java.io.Serializable;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * The parameters of {@link SeriesModel}, parsed from the {@code params} argument of the functions
 * ({@code "spike_z=6;shift_h=10;kinds=spike,level_shift"}). Every length is in READINGS of the series'
 * own cadence (learned from its spacing), so one set of defaults fits 1 Hz and 5-minute data alike;
 * every threshold is in units of the series' own scale, so a series and {@code a*x+b} (a > 0) raise the
 * same alerts. An unknown name or a bad value fails the statement with a message naming it.
 */
public final class SeriesParams implements Serializable {
    private static final long serialVersionUID = 1L;

    public static final Set<String> KINDS = Set.of(
            SeriesModel.SPIKE, SeriesModel.LEVEL_SHIFT, SeriesModel.VARIANCE, SeriesModel.DRIFT, SeriesModel.STUCK,
            SeriesModel.OUT_OF_RANGE);

    /** readings the baseline (level and scale) remembers: its EWMA horizon. */
    public int horizonReadings = 200;
    /** readings before anything is judged. */
    public int warmupReadings = 30;
    /** 0: no seasonality; 24: a baseline per hour of day; 168: per hour of week (UTC). */
    public int seasonBuckets = 24;
    /** a residual further than this many scales from the baseline is a spike. */
    public double spikeZ = 5.5;
    /** CUSUM allowance (in scales per reading) and decision interval of the level-shift detector. */
    public double shiftK = 0.75;
    public double shiftH = 12.0;
    /** a scale var_ratio times the baseline's (or 1/var_ratio of it) is a variance change: CUSUM decision
     * interval var_h; judged after var_readings readings. */
    public double varRatio = 2.0;
    public double varH = 9.0;
    public int varReadings = 16;
    /** how many standard errors the variance CUSUMs allow for the error a young baseline's spread has beyond
     * a learned one's (an estimate from m readings is off by sqrt(2/m); learned: m = 2 horizons): the spread
     * is judged against that bound above it (below it for a quieter series), so a baseline learned from few
     * readings needs a larger change to alert. 0: the estimate as it is. */
    public double varConfidence = 0.0;
    /** the mean of the last drift_readings readings this many scales off the baseline is a drift. */
    public double driftZ = 4.0;
    public int driftReadings = 24;
    /** identical consecutive readings that make a stuck sensor: at least this many, and at least
     * stuck_factor times the series' typical run of repeated values. */
    public int stuckReadings = 12;
    public double stuckFactor = 4.0;
    /** readings without the condition that close an episode (later readings open a new one). */
    public int quietReadings = 6;
    /** residuals are clipped to this many scales when they update the baseline (robustness). */
    public double clipZ = 4.0;
    /** a prior scale (in the series' units, 0 = none) the estimated scale is pulled towards, worth
     * prior_weight readings: a young series (a card's first auths) is judged against a typical scale
     * instead of the few readings it has. */
    public double priorScale = 0.0;
    public double priorWeight = 0.0;
    /** 1: only increases count, -1: only decreases, 0: both. */
    public int direction = 0;
    /** the variance detector's own direction (1: only a noisier series, -1: only a quieter one, 0: both);
     * unset (null): {@code direction}'s. */
    public Integer varDirection = null;
    /** the variance detector's direction in effect. */
    public int varianceDirection() {
        return varDirection != null ? varDirection : direction;
    }

    /** days of event time after its last reading that a series' state is kept. */
    public double idleDays = 30.0;
    /** which detectors report (comma-separated; default all). */
    public Set<String> kinds = KINDS;
    /** physical ranges: range key (e.g. "temperature" or "device-7/temperature") → {min, max}. */
    public Map<String, double[]> ranges = new HashMap<>();

    public static SeriesParams parse(String text) {
        SeriesParams p = new SeriesParams();
        if (text == null || text.isBlank()) {
            return p;
        }
        for (Map.Entry<String, String> e : KeyValues.entries(text, "series parameter")) {
            try {
                p.set(e.getKey(), e.getValue());
            } catch (NumberFormatException ex) {
                throw new IllegalArgumentException("series parameter " + e.getKey() + ": '" + e.getValue()
                        + "' is not a number");
            }
        }
        p.validate();
        return p;
    }

    private void set(String name, String value) {
        switch (name) {
            case "horizon_readings" -> horizonReadings = Integer.parseInt(value);
            case "warmup_readings" -> warmupReadings = Integer.parseInt(value);
            case "season_buckets" -> seasonBuckets = Integer.parseInt(value);
            case "spike_z" -> spikeZ = Double.parseDouble(value);
            case "shift_k" -> shiftK = Double.parseDouble(value);
            case "shift_h" -> shiftH = Double.parseDouble(value);
            case "var_ratio" -> varRatio = Double.parseDouble(value);
            case "var_readings" -> varReadings = Integer.parseInt(value);
            case "var_h" -> varH = Double.parseDouble(value);
            case "var_confidence" -> varConfidence = Double.parseDouble(value);
            case "drift_z" -> driftZ = Double.parseDouble(value);
            case "drift_readings" -> driftReadings = Integer.parseInt(value);
            case "stuck_readings" -> stuckReadings = Integer.parseInt(value);
            case "stuck_factor" -> stuckFactor = Double.parseDouble(value);
            case "quiet_readings" -> quietReadings = Integer.parseInt(value);
            case "clip_z" -> clipZ = Double.parseDouble(value);
            case "direction" -> direction = Integer.parseInt(value);
            case "var_direction" -> varDirection = Integer.parseInt(value);
            case "prior_scale" -> priorScale = Double.parseDouble(value);
            case "prior_weight" -> priorWeight = Double.parseDouble(value);
            case "idle_days" -> idleDays = Double.parseDouble(value);
            case "kinds" -> kinds = java.util.Arrays.stream(value.split(",")).map(String::trim)
                    .filter(k -> !k.isEmpty()).collect(java.util.stream.Collectors.toUnmodifiableSet());
            case "ranges" -> ranges = parseRanges(value);
            default -> throw new IllegalArgumentException("unknown series parameter '" + name + "'");
        }
    }

    /** "temperature:-50:150,device-7/temperature:0:80". */
    static Map<String, double[]> parseRanges(String text) {
        Map<String, double[]> out = new HashMap<>();
        for (String item : text.split(",")) {
            if (item.isBlank()) {
                continue;
            }
            int second = item.lastIndexOf(':');
            int first = item.lastIndexOf(':', second - 1);
            if (first <= 0) {
                throw new IllegalArgumentException("range '" + item + "' must look like key:min:max");
            }
            double min = Double.parseDouble(item.substring(first + 1, second));
            double max = Double.parseDouble(item.substring(second + 1));
            if (!(min < max)) {
                throw new IllegalArgumentException("range '" + item + "': min must be below max");
            }
            out.put(item.substring(0, first), new double[] {min, max});
        }
        return out;
    }

    private void validate() {
        require(horizonReadings >= 2, "horizon_readings must be at least 2");
        require(warmupReadings >= 2, "warmup_readings must be at least 2");
        require(seasonBuckets == 0 || seasonBuckets == 24 || seasonBuckets == 168, "season_buckets must be 0, 24 or 168");
        require(spikeZ > 0 && shiftK >= 0 && shiftH > 0 && varRatio > 1 && varH > 0 && driftZ > 0 && clipZ > 0,
                "thresholds must be positive (var_ratio above 1)");
        require(varReadings >= 2 && driftReadings >= 2 && stuckReadings >= 2 && quietReadings >= 1,
                "reading counts must be at least 2 (quiet_readings at least 1)");
        require(direction >= -1 && direction <= 1, "direction must be -1, 0 or 1");
        require(varDirection == null || (varDirection >= -1 && varDirection <= 1), "var_direction must be -1, 0 or 1");
        require(priorScale >= 0 && priorWeight >= 0, "prior_scale and prior_weight must be 0 or more");
        require(varConfidence >= 0, "var_confidence must be 0 or more");
        for (String kind : kinds) {
            require(KINDS.contains(kind), "unknown kind '" + kind + "' (known: " + KINDS + ")");
        }
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("series parameters: " + message);
        }
    }
}
