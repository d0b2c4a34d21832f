package io.patternalarm.flink.detect;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * A packed byte encoding of a {@link SeriesState} (catalog v5's per-series state): the baseline's 19
 * numbers, the seasonal offsets only when seasonality is on, and only the OPEN episodes (a closed
 * episode's fields are re-set when it opens again). 156 bytes for a card without an open episode (~45
 * more per open one); v4's structured state keeps seven episode arrays whether an episode is open or
 * not (measured on a 500,000-event payments backlog: the card baselines' checkpoint 127 MB in v4, 76 MB here).
 * {@code idleAt} is not part of it (the function keeps it beside the bytes). Decoding and re-encoding
 * a state gives a state that behaves identically under {@link SeriesModel#update}.
 */
public final class SeriesStateCodec {
    /** the first byte: the layout (a later layout must still read this one). */
    static final byte FORMAT = 1;
    private static final int FIXED = 1 + 4 * 8 + 15 * 8 + 2 + 1;

    private SeriesStateCodec() {}

    public static byte[] encode(SeriesState s) {
        int buckets = s.season == null ? 0 : s.season.length;
        int detectors = SeriesModel.DETECTORS.length;
        byte[][] ids = new byte[detectors][];
        int mask = 0;
        int size = FIXED + buckets * (8 + 4);
        if (s.open != null) {
            for (int k = 0; k < detectors; k++) {
                if (s.open[k]) {
                    mask |= 1 << k;
                    ids[k] = s.firstId[k] == null ? null : s.firstId[k].getBytes(StandardCharsets.UTF_8);
                    size += 4 + (ids[k] == null ? 0 : ids[k].length) + 8 + 4 + 8 + 4 + 8;
                }
            }
        }
        ByteBuffer b = ByteBuffer.allocate(size);
        b.put(FORMAT);
        b.putLong(s.n).putLong(s.firstSeen).putLong(s.lastTs).putLong(s.runLength);
        b.putDouble(s.cadence).putDouble(s.mean).putDouble(s.var).putDouble(s.longVar).putDouble(s.wMean)
                .putDouble(s.wM2).putDouble(s.cusumUp).putDouble(s.cusumDown).putDouble(s.varUp).putDouble(s.varDown)
                .putDouble(s.local).putDouble(s.localVar).putDouble(s.fast).putDouble(s.runValue).putDouble(s.typicalRun);
        b.putShort((short) buckets);
        for (int i = 0; i < buckets; i++) {
            b.putDouble(s.season[i]).putInt((int) Math.min(Integer.MAX_VALUE, s.seasonCount[i]));
        }
        b.put((byte) mask);
        for (int k = 0; k < detectors; k++) {
            if ((mask & (1 << k)) == 0) {
                continue;
            }
            b.putInt(ids[k] == null ? -1 : ids[k].length);
            if (ids[k] != null) {
                b.put(ids[k]);
            }
            b.putLong(s.firstTs[k]).putInt(s.seq[k]).putDouble(s.maxScore[k]).putInt(s.quiet[k]).putLong(s.readings[k]);
        }
        return b.array();
    }

    /** The state {@code bytes} encode; a fresh one for null or empty bytes (a series not seen yet). */
    public static SeriesState decode(byte[] bytes) {
        SeriesState s = SeriesModel.fresh();
        if (bytes == null || bytes.length == 0) {
            return s;
        }
        ByteBuffer b = ByteBuffer.wrap(bytes);
        byte format = b.get();
        if (format != FORMAT) {
            throw new IllegalStateException("series state layout " + format + " is not known to this build (expected "
                    + FORMAT + "): deploy the catalog version that wrote it, or redeploy with --fresh");
        }
        s.n = b.getLong();
        s.firstSeen = b.getLong();
        s.lastTs = b.getLong();
        s.runLength = b.getLong();
        s.cadence = b.getDouble();
        s.mean = b.getDouble();
        s.var = b.getDouble();
        s.longVar = b.getDouble();
        s.wMean = b.getDouble();
        s.wM2 = b.getDouble();
        s.cusumUp = b.getDouble();
        s.cusumDown = b.getDouble();
        s.varUp = b.getDouble();
        s.varDown = b.getDouble();
        s.local = b.getDouble();
        s.localVar = b.getDouble();
        s.fast = b.getDouble();
        s.runValue = b.getDouble();
        s.typicalRun = b.getDouble();
        int buckets = b.getShort();
        if (buckets > 0) {
            s.season = new double[buckets];
            s.seasonCount = new long[buckets];
            for (int i = 0; i < buckets; i++) {
                s.season[i] = b.getDouble();
                s.seasonCount[i] = b.getInt();
            }
        }
        int mask = b.get();
        for (int k = 0; k < SeriesModel.DETECTORS.length; k++) {
            if ((mask & (1 << k)) == 0) {
                continue;
            }
            s.open[k] = true;
            int len = b.getInt();
            if (len >= 0) {
                byte[] id = new byte[len];
                b.get(id);
                s.firstId[k] = new String(id, StandardCharsets.UTF_8);
            }
            s.firstTs[k] = b.getLong();
            s.seq[k] = b.getInt();
            s.maxScore[k] = b.getDouble();
            s.quiet[k] = b.getInt();
            s.readings[k] = b.getLong();
        }
        return s;
    }
}
