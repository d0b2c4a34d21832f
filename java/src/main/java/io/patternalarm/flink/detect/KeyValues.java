package io.patternalarm.flink.detect;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code name=value;name=value} parameter text of the project's functions (series, rate, keyed steps): one
 * reader for all of them, each naming its own parameters in the errors ("series parameter", "rate parameter").
 */
public final class KeyValues {
    private KeyValues() {
    }

    /** The text's name=value items in order (blank items skipped; a repeated name appears again). */
    public static List<Map.Entry<String, String>> entries(String text, String what) {
        List<Map.Entry<String, String>> out = new ArrayList<>();
        if (text == null) {
            return out;
        }
        for (String item : text.split(";")) {
            if (item.isBlank()) {
                continue;
            }
            int eq = item.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException(what + " '" + item + "' must look like name=value");
            }
            out.add(Map.entry(item.substring(0, eq).trim(), item.substring(eq + 1).trim()));
        }
        return out;
    }

    /** name → value (a repeated name: the last). */
    public static Map<String, String> parse(String text, String what) {
        Map<String, String> kv = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : entries(text, what)) {
            kv.put(e.getKey(), e.getValue());
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
