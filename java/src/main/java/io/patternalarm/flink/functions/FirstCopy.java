package io.patternalarm.flink.functions;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Optional;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.table.functions.TableSemantics;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.table.types.logical.utils.LogicalTypeChecks;
import org.apache.flink.types.Row;

/**
 * Duplicate detection by event id with event-time state. Called as
 * {@code first_copy(input => TABLE t PARTITION BY event_id, on_time => DESCRIPTOR(ts))}; emits every
 * row with {@code copy_no} (1 = the first copy of that event id): the partition key first, then the
 * other columns, then copy_no, then {@code rowtime} (the event time, a time attribute).
 *
 * <p>The state of an id lives only until the watermark passes the event's time: a copy arriving later
 * is behind the watermark, and the routing has sent it to events.late before it gets here (copies of
 * one event carry the same event_time). At the seed rate that is about a watermark delay of ids (a
 * thousand) instead of twenty minutes of them (a million), and an event-time timer per id.
 * (Pass-through columns cannot be combined with timers in Flink 2.2, and table arguments arrive as
 * {@code Row}, hence the output type derived from the input's.)
 */
@FunctionHint(output = @DataTypeHint("ROW<copy_no INT NOT NULL>"))
public class FirstCopy extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;

    /** copies seen of this event id. */
    public static class Seen {
        public int copies;
    }

    /** the timer name of earlier versions (a restored job's pending timers still carry it). */
    private static final String LEGACY_TIMER = "forget";

    private transient int[] rest;

    /**
     * The arguments and state come from the annotations on eval(); the output type (the input's
     * columns plus copy_no) depends on the table it is called on, so it is derived here.
     */
    @Override
    public TypeInference getTypeInference(DataTypeFactory typeFactory) {
        TypeInference annotated = super.getTypeInference(typeFactory);
        TypeInference.Builder builder = TypeInference.newBuilder()
                .staticArguments(annotated.getStaticArguments().orElseThrow())
                .inputTypeStrategy(annotated.getInputTypeStrategy())
                .stateTypeStrategies(new LinkedHashMap<>(annotated.getStateTypeStrategies()))
                .outputTypeStrategy(call -> {
                    Optional<TableSemantics> semantics = call.getTableSemantics(0);
                    if (semantics.isEmpty()) {
                        return Optional.empty();
                    }
                    DataType input = semantics.get().dataType();
                    List<String> names = LogicalTypeChecks.getFieldNames(input.getLogicalType());
                    List<DataType> types = input.getChildren();
                    List<DataTypes.Field> fields = new ArrayList<>();
                    for (int i : restColumns(semantics.get(), names.size())) {
                        fields.add(DataTypes.FIELD(names.get(i), types.get(i)));
                    }
                    fields.add(DataTypes.FIELD("copy_no", DataTypes.INT().notNull()));
                    return Optional.of(DataTypes.ROW(fields));
                });
        return builder.build();
    }

    /** the input columns that are not partition keys, in order (the framework puts the keys first). */
    static int[] restColumns(TableSemantics semantics, int arity) {
        List<Integer> keep = new ArrayList<>();
        outer:
        for (int i = 0; i < arity; i++) {
            for (int key : semantics.partitionByColumns()) {
                if (key == i) {
                    continue outer;
                }
            }
            keep.add(i);
        }
        return keep.stream().mapToInt(Integer::intValue).toArray();
    }

    public void eval(Context ctx, @StateHint Seen seen,
                     @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME}) Row input) {
        if (rest == null) {
            rest = restColumns(ctx.tableSemanticsFor("input"), input.getArity());
        }
        if (seen.copies == 0) {
            // unnamed: Flink 2.2 keeps a named timer's name in a per-key map that firing never empties, so
            // a named timer left one entry behind for every event id ever seen (state that only grew)
            TimeContext<Instant> time = ctx.timeContext(Instant.class);
            time.registerOnTime(time.time());
        }
        seen.copies++;
        Row out = new Row(rest.length + 1);
        for (int i = 0; i < rest.length; i++) {
            out.setField(i, input.getField(rest[i]));
        }
        out.setField(rest.length, seen.copies);
        collect(out);
    }

    public void onTimer(OnTimerContext ctx, Seen seen) {
        ctx.clearAllState();
        if (LEGACY_TIMER.equals(ctx.currentTimer())) { // restored from state of the named-timer version
            ctx.timeContext(Instant.class).clearTimer(LEGACY_TIMER);
        }
    }
}
