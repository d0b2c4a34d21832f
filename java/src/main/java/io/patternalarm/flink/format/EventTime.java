package io.patternalarm.flink.format;

/**
 * The contract's event_time: ISO-8601 with an offset ({@code Z} or {@code ±hh:mm}, 1–9 fraction digits,
 * exactly the schema's pattern) or epoch milliseconds (an integral number ≥ 0). Parsed by hand: the
 * hot path of every record, and java.time would allocate several objects per call.
 */
public final class EventTime {
    /** Returned for a value that is not a usable event time. */
    public static final long INVALID = Long.MIN_VALUE;

    private EventTime() {}

    /** Epoch milliseconds of an ISO-8601 timestamp, or {@link #INVALID}. */
    public static long parseIso(String s) {
        int n = s.length();
        if (n < 20 || s.charAt(4) != '-' || s.charAt(7) != '-' || s.charAt(10) != 'T' || s.charAt(13) != ':'
                || s.charAt(16) != ':') {
            return INVALID;
        }
        int year = digits(s, 0, 4);
        int month = digits(s, 5, 2);
        int day = digits(s, 8, 2);
        int hour = digits(s, 11, 2);
        int minute = digits(s, 14, 2);
        int second = digits(s, 17, 2);
        if ((year | month | day | hour | minute | second) < 0) {
            return INVALID;
        }
        int i = 19;
        int millis = 0;
        if (i < n && s.charAt(i) == '.') {
            int start = ++i;
            while (i < n && isDigit(s.charAt(i))) {
                if (i - start < 3) {
                    millis = millis * 10 + (s.charAt(i) - '0');
                }
                i++;
            }
            int count = i - start;
            if (count < 1 || count > 9) {
                return INVALID;
            }
            for (int k = count; k < 3; k++) {
                millis *= 10;
            }
        }
        int offsetMinutes;
        if (i < n && s.charAt(i) == 'Z') {
            offsetMinutes = 0;
            i++;
        } else if (i + 6 <= n && (s.charAt(i) == '+' || s.charAt(i) == '-') && s.charAt(i + 3) == ':') {
            int oh = digits(s, i + 1, 2);
            int om = digits(s, i + 4, 2);
            if ((oh | om) < 0 || oh > 23 || om > 59) {
                return INVALID;
            }
            offsetMinutes = (oh * 60 + om) * (s.charAt(i) == '-' ? -1 : 1);
            i += 6;
        } else {
            return INVALID;
        }
        if (i != n || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23
                || minute > 59 || second > 59) {
            return INVALID;
        }
        long days = daysFromCivil(year, month, day);
        long seconds = days * 86_400L + hour * 3600L + minute * 60L + second - offsetMinutes * 60L;
        return seconds * 1000L + millis;
    }

    /** Epoch milliseconds of a JSON number, or {@link #INVALID} (negative, fractional or not finite). */
    public static long fromNumber(double value) {
        if (Double.isNaN(value) || Double.isInfinite(value) || value < 0 || value != Math.rint(value)
                || value > 9.2e18) {
            return INVALID;
        }
        return (long) value;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private static int digits(String s, int at, int count) {
        int v = 0;
        for (int k = at; k < at + count; k++) {
            char c = s.charAt(k);
            if (!isDigit(c)) {
                return -1;
            }
            v = v * 10 + (c - '0');
        }
        return v;
    }

    private static int daysInMonth(int year, int month) {
        return switch (month) {
            case 2 -> (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28;
            case 4, 6, 9, 11 -> 30;
            default -> 31;
        };
    }

    /** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
    static long daysFromCivil(int y, int m, int d) {
        y -= m <= 2 ? 1 : 0;
        long era = (y >= 0 ? y : y - 399) / 400;
        long yoe = y - era * 400;
        long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146_097 + doe - 719_468;
    }
}
