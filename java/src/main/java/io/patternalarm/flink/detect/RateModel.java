package io.patternalarm.flink.detect;

import java.io.Serializable;

/**
 * A success rate (headshots per kill, hits per shot) of one entity against the population's and
 * against its own long-run norm — pure Java, fed one trial row at a time in event-time order.
 *
 * <p>Counts decay per trial: the entity's recent window holds about {@code window_trials} trials
 * (effective counts n, k), its own norm about {@code norm_trials}, the population's about
 * {@code population_trials} trials of everybody. Two one-sided tests, each a z of the binomial
 * normal approximation: recent vs the population's rate ({@code z_population}), and recent vs the
 * entity's own norm once it has {@code min_norm_trials} of history ({@code z_own}: a player who starts
 * cheating). Either beyond {@code z_threshold}, with at least {@code min_trials} recent trials, is
 * an outlier. Episodes as in {@link SeriesModel}: one alert that opens, updates while the score grows,
 * closed after quiet_trials trials without the condition. Score {@code 1 - 0.5^(z / z_threshold)}.
 *
 * <p>With {@code spread_z} &gt; 0 the population test accounts for honest players being different from
 * each other (catalog v6): the entity's long-run rate (its own norm's counts, about {@code norm_trials})
 * is judged against the population's rate with the binomial variance of those counts PLUS the learned
 * spread of entities' rates around it ({@code tau}, a decayed estimate over {@code population_trials}
 * of everybody's rows: squared deviations of each entity's long-run rate minus their binomial part,
 * each deviation clipped at {@link #SPREAD_CLIP} of the current spread so that a few cheaters cannot
 * widen the norm they are judged by). An outlier is an entity whose rate lies beyond {@code spread_z}
 * of that spread AND whose excess is beyond {@code z_threshold} binomial standard errors (not luck of
 * a short history: a population with no spread at all still needs real evidence). A plain binomial z on
 * a recent window (the v4/v5 test) flags every skilled honest player of a large population when set
 * low enough to find cheaters with a realistic headshot ratio, and finds few when set high.
 */
public final class RateModel {
    private RateModel() {}

    /** parameters (from "window_trials=30;min_trials=20;z_threshold=4.5"). */
    public static final class Params implements Serializable {
        private static final long serialVersionUID = 1L;
        public int windowTrials = 30;
        public int minTrials = 20;
        public int normTrials = 500;
        public int minNormTrials = 100;
        public int populationTrials = 5000;
        public int minPopulationTrials = 200;
        public double zThreshold = 4.5;
        public int quietTrials = 10;
        /** 0: the v4/v5 population test (binomial z of the recent window); &gt; 0: the spread-aware test. */
        public double spreadZ = 0.0;

        public static Params parse(String text) {
            Params p = new Params();
            if (text == null) {
                return p;
            }
            for (java.util.Map.Entry<String, String> kv : KeyValues.entries(text, "rate parameter")) {
                String v = kv.getValue();
                switch (kv.getKey()) {
                    case "window_trials" -> p.windowTrials = Integer.parseInt(v);
                    case "min_trials" -> p.minTrials = Integer.parseInt(v);
                    case "norm_trials" -> p.normTrials = Integer.parseInt(v);
                    case "min_norm_trials" -> p.minNormTrials = Integer.parseInt(v);
                    case "population_trials" -> p.populationTrials = Integer.parseInt(v);
                    case "min_population_trials" -> p.minPopulationTrials = Integer.parseInt(v);
                    case "z_threshold" -> p.zThreshold = Double.parseDouble(v);
                    case "quiet_trials" -> p.quietTrials = Integer.parseInt(v);
                    case "spread_z" -> p.spreadZ = Double.parseDouble(v);
                    default -> throw new IllegalArgumentException("unknown rate parameter '" + kv.getKey() + "'");
                }
            }
            if (p.minTrials < 1 || p.windowTrials < p.minTrials || p.zThreshold <= 0 || p.quietTrials < 1
                    || p.spreadZ < 0) {
                throw new IllegalArgumentException(
                        "rate parameters: need 1 <= min_trials <= window_trials, z_threshold > 0, spread_z >= 0");
            }
            return p;
        }
    }

    /** the population's decayed counts. */
    public static class Population {
        public double n;
        public double k;
    }

    /**
     * the population's learned spread of entities' long-run rates (spread_z &gt; 0): a decayed weight and
     * the decayed mean of (clipped squared deviation - its binomial part); its own state entry, so that
     * the v4/v5 state ({@link Population}) keeps its form.
     */
    public static class Spread {
        public double w;
        public double v;
    }

    /** deviations beyond this many current spreads count as this many when the spread learns. */
    public static final double SPREAD_CLIP = 2.5;
    /** rows (of entities with min_trials) the spread learns from before it judges anybody. */
    public static final double SPREAD_WARMUP = 50;

    /** one entity's decayed counts and its open episode. */
    public static class Entity {
        public double n;
        public double k;
        public double normN;
        public double normK;
        public long trials;
        public boolean open;
        public String firstId;
        public long firstTs;
        public int seq;
        public double maxScore;
        public int quiet;
    }

    /** an alert (or update) for the entity. */
    public record Outlier(String firstEventId, long firstTs, int seq, double score, double rate, double recentTrials,
                          double populationRate, double ownRate, double zPopulation, double zOwn, double zSpread,
                          double spread) {}

    static double decay(int horizon) {
        return 1.0 - 1.0 / horizon;
    }

    static double z(double k, double n, double p) {
        if (n <= 0 || p <= 0 || p >= 1) {
            return 0.0;
        }
        return (k - n * p) / Math.sqrt(n * p * (1 - p));
    }

    /**
     * One row of the entity: {@code trials} attempts with {@code successes} successes (a kill: 1 and 0/1).
     * The population is judged on its counts BEFORE this row (an entity cannot make its own norm).
     */
    public static Outlier update(Population pop, Spread spread, Entity e, Params p, long ts, String eventId,
                                 int trials, int successes) {
        double populationRate = pop.n > 0 ? pop.k / pop.n : 0.0;
        boolean populationKnown = pop.n >= p.minPopulationTrials;
        double ownRate = e.normN > 0 ? e.normK / e.normN : 0.0;
        if (trials > 0) {
            double w = Math.pow(decay(p.windowTrials), trials);
            double q = Math.pow(decay(p.populationTrials), trials);
            double o = Math.pow(decay(p.normTrials), trials);
            e.n *= w;
            e.k *= w;
            pop.n *= q;
            pop.k *= q;
            e.normN *= o;
            e.normK *= o;
        }
        e.n += trials;
        e.k += successes;
        e.trials += trials;
        pop.n += trials;
        pop.k += successes;
        e.normN += trials;
        e.normK += successes;
        if (trials == 0) {
            return null;
        }
        double zOwn = e.trials - e.n >= p.minNormTrials ? z(e.k, e.n, Math.max(ownRate, 1e-3)) : 0.0;
        double zPop;
        double zSpread = 0.0;
        double tau = 0.0;
        boolean cond;
        double score;
        if (p.spreadZ > 0) {
            if (spread == null) {
                throw new IllegalArgumentException("spread_z needs the population's spread state");
            }
            tau = Math.sqrt(Math.max(spread.v, 0.0));
            boolean known = populationKnown && e.trials >= p.minTrials;
            double deviation = e.normK / e.normN - populationRate; // the long-run rate's excess
            double binomial = populationRate * (1 - populationRate) / e.normN;
            zPop = populationKnown ? z(e.normK, e.normN, populationRate) : 0.0;
            if (known && spread.w >= SPREAD_WARMUP) {
                zSpread = deviation / Math.sqrt(binomial + tau * tau);
            }
            boolean population = zSpread > p.spreadZ && zPop > p.zThreshold;
            boolean own = e.trials >= p.minTrials && zOwn > p.zThreshold;
            cond = population || own;
            score = 1.0 - Math.pow(0.5, Math.max(population ? zSpread / p.spreadZ : 0.0, zOwn / p.zThreshold));
            if (known) {
                learnSpread(spread, p, deviation, binomial, tau, trials);
            }
        } else {
            zPop = populationKnown ? z(e.k, e.n, populationRate) : 0.0;
            cond = e.trials >= p.minTrials && Math.max(zPop, zOwn) > p.zThreshold;
            score = 1.0 - Math.pow(0.5, Math.max(zPop, zOwn) / p.zThreshold);
        }
        Outlier out = null;
        if (cond) {
            e.quiet = 0;
            if (!e.open) {
                e.open = true;
                e.firstId = eventId;
                e.firstTs = ts;
                e.seq = 1;
                e.maxScore = score;
                out = new Outlier(eventId, ts, 1, score, e.k / e.n, e.n, populationRate, ownRate, zPop, zOwn, zSpread,
                        tau);
            } else if (score >= e.maxScore + 0.05) {
                e.maxScore = score;
                e.seq++;
                out = new Outlier(e.firstId, e.firstTs, e.seq, score, e.k / e.n, e.n, populationRate, ownRate, zPop, zOwn,
                        zSpread, tau);
            }
        } else if (e.open && ++e.quiet >= p.quietTrials) {
            e.open = false;
            e.firstId = null;
        }
        return out;
    }

    /** one entity's deviation (long-run rate - population rate) and its binomial variance, learned. */
    static void learnSpread(Spread s, Params p, double deviation, double binomial, double tau, int trials) {
        double limit = SPREAD_CLIP * Math.sqrt(binomial + tau * tau); // from the start: cheaters never widen it
        double d = Math.max(-limit, Math.min(limit, deviation));
        s.w = s.w * Math.pow(decay(p.populationTrials), trials) + trials;
        s.v += (d * d - binomial - s.v) * Math.min(1.0, trials / Math.min(s.w, p.populationTrials));
    }
}
