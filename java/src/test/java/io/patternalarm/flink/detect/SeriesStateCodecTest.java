package io.patternalarm.flink.detect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

/** The packed state (catalog v5) behaves exactly like the structured one: a series whose state is
 * encoded and decoded after every reading raises the same alerts, with the same numbers. */
class SeriesStateCodecTest {
    static final long START = 1_767_225_600_000L;

    /** every kind of anomaly, with episodes open across readings, so open and closed episodes are encoded. */
    static double[] messy(int n, long seed) {
        Random r = new Random(seed);
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = 50 + 4 * Math.sin(2 * Math.PI * i / 288) + r.nextGaussian();
            if (i > 700 && i < 760) {
                x[i] += 6; // level shift
            }
            if (i > 900 && i < 980) {
                x[i] = 50 + 4 * (x[i] - 50); // noisier
            }
            if (i % 97 == 0) {
                x[i] += 12; // spikes
            }
        }
        for (int i = 1100; i < 1130; i++) {
            x[i] = x[1100]; // stuck
        }
        return x;
    }

    static List<SeriesModel.Anomaly> drive(double[] x, SeriesParams p, long gap, boolean packed) {
        SeriesState s = packed ? SeriesStateCodec.decode(null) : new SeriesState();
        List<SeriesModel.Anomaly> out = new ArrayList<>();
        for (int i = 0; i < x.length; i++) {
            if (packed) {
                s = SeriesStateCodec.decode(SeriesStateCodec.encode(s));
            }
            out.addAll(SeriesModel.update(s, p, START + i * gap, "e" + i, x[i], "dev/temperature"));
        }
        return out;
    }

    @Test
    void packedStateRaisesTheSameAlertsAsTheStructuredOne() {
        for (String text : new String[] {"ranges=temperature:40:60", "season_buckets=0;direction=1",
                                         "season_buckets=168;var_direction=1"}) {
            SeriesParams p = SeriesParams.parse(text);
            for (long gap : new long[] {1_000L, 300_000L}) {
                double[] x = messy(1400, gap + text.length());
                List<SeriesModel.Anomaly> plain = drive(x, p, gap, false);
                List<SeriesModel.Anomaly> packed = drive(x, p, gap, true);
                assertFalse(plain.isEmpty(), "the series must raise alerts for the comparison to mean something");
                assertEquals(plain, packed, text + " at " + gap + " ms");
            }
        }
    }

    @Test
    void aCardsStateIsSmall() {
        SeriesParams p = SeriesParams.parse("season_buckets=0;direction=1;warmup_readings=5");
        SeriesState s = new SeriesState();
        Random r = new Random(7);
        for (int i = 0; i < 20; i++) {
            assertTrue(SeriesModel.update(s, p, START + i * 3_600_000L, "e" + i, Math.log(40) + 0.3 * r.nextGaussian(),
                    null).isEmpty());
        }
        int quiet = SeriesStateCodec.encode(s).length;
        assertTrue(quiet <= 160, "a quiet card's packed state is " + quiet + " bytes");
        SeriesModel.update(s, p, START + 20 * 3_600_000L, "card-1-e20", Math.log(4000), null); // opens episodes
        int open = SeriesStateCodec.encode(s).length;
        assertTrue(open > quiet && open <= quiet + 2 * 50, "with open episodes: " + open + " bytes");
    }

    @Test
    void anUnknownLayoutIsAClearError() {
        byte[] bytes = SeriesStateCodec.encode(SeriesModel.fresh());
        bytes[0] = 9;
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> SeriesStateCodec.decode(bytes));
        assertTrue(e.getMessage().contains("--fresh"), e.getMessage());
    }
}
