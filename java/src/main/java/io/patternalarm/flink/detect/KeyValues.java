package io.patternalarm.flink.detect;

import java.util.LinkedHashMap;
import java.util.Map;

/** The {@code key=value;key=value} parameter text of the keyed functions that take no series parameters. */
public final class KeyValues {
    private KeyValues() {
    }

    public static Map<String, String> parse(String text, String what) {
        Map<String, String> kv = new LinkedHashMap<>();
        if (text == null) {
            throw new IllegalArgumentException(what + ": no parameters");
        }
        for (String item : text.split(";")) {
            if (item.isBlank()) {
                continue;
            }
            int eq = item.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException(what + ": '" + item + "' is not key=value");
            }
            kv.put(item.substring(0, eq).trim(), item.substring(eq + 1).trim());
        }
        return kv;
    }

    public static long longOf(Map<String, String> kv, String key) {
        return (long) doubleOf(kv, key);
    }

    public static double doubleOf(Map<String, String> kv, String key) {
        String value = kv.get(key);
        if (value == null) {
            throw new IllegalArgumentException("parameter " + key + " is missing");
        }
        try {
            return Double.parseDouble(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("parameter " + key + " is not a number: " + value, e);
        }
    }
}
