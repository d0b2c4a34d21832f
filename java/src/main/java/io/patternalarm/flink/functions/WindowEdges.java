package io.patternalarm.flink.functions;

import java.util.List;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.ListView;
import org.apache.flink.types.Row;

import io.patternalarm.flink.detect.EdgeWindow;

/**
 * The rising edges of "too many rows, or too large a sum, in a trailing window" per key (catalog v7:
 * velocity): {@code window_edges(input => TABLE t PARTITION BY key, on_time => DESCRIPTOR(ts), params =>
 * 'window_s=…;max_count=…;max_sum=…;memory_min=…')} on a table with {@code event_id, value}. Emits a row
 * when a row breaks the limits and the key's previous row did not ({@link EdgeWindow}: the semantics of
 * the two SQL over-windows it replaces). What it keeps per key: the times, values and ids of the rows in
 * the window and one flag, forgotten a window after the key's last row (after a hot row, {@code memory_min}).
 */
@FunctionHint(output = @DataTypeHint("ROW<event_id STRING, epoch_ms BIGINT, row_count BIGINT, total DOUBLE, "
        + "first_id STRING, first_ms BIGINT>"))
public class WindowEdges extends OrderedSteps {
    private static final long serialVersionUID = 1L;
    private static final String[] NUMBERS = {"value"};

    /** the key's window ({@link EdgeWindow.State}) and when its forget timer fires. */
    public static class Window {
        public long[] ts;
        public double[] values;
        public String[] ids;
        public boolean hot;
        public long lastTs;
        public long forgetAt;
    }

    private transient EdgeWindow.Params params;

    @Override
    void configure(String text) {
        params = EdgeWindow.Params.parse(text);
    }

    @Override
    String[] numberColumns() {
        return NUMBERS;
    }

    public void eval(Context ctx, @StateHint(ttl = "0") Window window,
                     @StateHint(ttl = "0") ListView<Step> pending,
                     @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME}) Row input,
                     String params) throws Exception {
        accept(ctx, pending, input, params);
    }

    public void onTimer(OnTimerContext ctx, Window window, ListView<Step> pending) throws Exception {
        if (deferred(ctx)) {
            return;
        }
        EdgeWindow.State s = read(window);
        List<Step> due = due(ctx, pending);
        int i = 0;
        while (i < due.size()) {
            long t = due.get(i).ts;
            int j = i;
            while (j < due.size() && due.get(j).ts == t) { // rows of one time see each other, as in SQL
                EdgeWindow.add(s, params, t, due.get(j).a, due.get(j).eventId);
                j++;
            }
            for (int k = i; k < j; k++) {
                EdgeWindow.Seen seen = EdgeWindow.judge(s, params);
                if (seen.edge()) {
                    Step row = due.get(k);
                    collect(Row.of(row.eventId, row.ts, seen.count(), seen.sum(), seen.firstId(), seen.firstTs()));
                }
            }
            i = j;
        }
        if (!due.isEmpty()) {
            window.ts = s.ts;
            window.values = s.values;
            window.ids = s.ids;
            window.hot = s.hot;
            window.lastTs = s.lastTs;
        }
        long scheduled = forgetOrKeep(ctx, "window", EdgeWindow.forgetAt(s, params), window.forgetAt);
        if (scheduled >= 0) {
            window.forgetAt = scheduled;
        }
    }

    private static EdgeWindow.State read(Window window) {
        EdgeWindow.State s = new EdgeWindow.State();
        if (window.ts != null) {
            s.ts = window.ts;
            s.values = window.values;
            s.ids = window.ids;
        }
        s.hot = window.hot;
        s.lastTs = window.lastTs;
        return s;
    }
}
