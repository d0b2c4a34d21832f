package io.patternalarm.flink.functions;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Function;
import java.util.function.ToLongFunction;

import org.apache.flink.table.api.dataview.ListView;

/**
 * The event-time functions' common step: take the pending rows the watermark has passed out of a key's
 * list, in event-time order (ties by event id), leaving the later ones.
 */
final class DueRows {
    private DueRows() {
    }

    /** The order rows are handled in: event time, then event id (a missing id first). */
    static <T> Comparator<T> order(ToLongFunction<T> ts, Function<T, String> eventId) {
        return Comparator.<T>comparingLong(ts).thenComparing(r -> {
            String id = eventId.apply(r);
            return id == null ? "" : id;
        });
    }

    /** The rows of {@code pending} at or before {@code now}, sorted by {@code order}; the rest stay. */
    static <T> List<T> take(ListView<T> pending, long now, ToLongFunction<T> ts, Comparator<T> order)
            throws Exception {
        List<T> due = new ArrayList<>();
        List<T> later = new ArrayList<>();
        for (T r : pending.get()) {
            (ts.applyAsLong(r) <= now ? due : later).add(r);
        }
        if (due.isEmpty()) {
            return due;
        }
        due.sort(order);
        pending.clear();
        if (!later.isEmpty()) {
            pending.addAll(later);
        }
        return due;
    }
}
