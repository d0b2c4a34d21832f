package io.patternalarm.flink.format;

import java.io.IOException;
import java.util.List;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;

import io.patternalarm.flink.format.EventContract.Kind;
import io.patternalarm.flink.format.EventContract.Problem;

/**
 * Parses one Kafka record value ONCE into the table's typed columns and validates it against the
 * domain's contract. Never throws on bad input: an invalid record becomes a row whose {@code reason}
 * (and {@code detail}) say why, with {@code raw} for the dead-letter record.
 *
 * <p>Columns are matched by name: a schema property (converted to the column's type), or one of the
 * special columns {@code reason}, {@code detail} (null when valid), {@code event_ts} (the parsed
 * event_time, TIMESTAMP_LTZ(3)), {@code raw} (the value as text; wraps the record's bytes, no copy)
 * and {@code raw_bytes} (its length).
 */
public final class EventDeserializer implements DeserializationSchema<RowData> {
    private static final long serialVersionUID = 1L;

    static final String REASON = "reason";
    static final String DETAIL = "detail";
    static final String EVENT_TS = "event_ts";
    static final String RAW = "raw";
    static final String RAW_BYTES = "raw_bytes";
    static final List<String> SPECIAL = List.of(REASON, DETAIL, EVENT_TS, RAW, RAW_BYTES);

    private static final int TO_STRING = 0;
    private static final int TO_DOUBLE = 1;
    private static final int TO_LONG = 2;
    private static final int TO_INT = 3;
    private static final int TO_BOOLEAN = 4;

    private final String domain;
    private final String schemaJson;
    private final int maxBytes;
    private final RowType rowType;
    private final TypeInformation<RowData> producedType;

    private transient EventContract contract;
    private transient JsonFactory factory;
    private transient int arity;
    /** property slot → column index (-1: not a column) and conversion. */
    private transient int[] columnOf;
    private transient int[] conversionOf;
    private transient int reasonCol;
    private transient int detailCol;
    private transient int eventTsCol;
    private transient int rawCol;
    private transient int rawBytesCol;
    private transient Kind[] kinds;
    private transient Object[] values;

    public EventDeserializer(String domain, String schemaJson, int maxBytes, RowType rowType,
                             TypeInformation<RowData> producedType) {
        this.domain = domain;
        this.schemaJson = schemaJson;
        this.maxBytes = maxBytes;
        this.rowType = rowType;
        this.producedType = producedType;
    }

    @Override
    public void open(InitializationContext context) {
        setUp();
    }

    void setUp() {
        contract = EventContract.compile(domain, schemaJson);
        factory = JsonFactory.builder().build(); // strict JSON, as the edge (orjson): NaN is malformed
        arity = rowType.getFieldCount();
        columnOf = new int[contract.size()];
        conversionOf = new int[contract.size()];
        java.util.Arrays.fill(columnOf, -1);
        reasonCol = detailCol = eventTsCol = rawCol = rawBytesCol = -1;
        List<String> names = rowType.getFieldNames();
        for (int c = 0; c < names.size(); c++) {
            String name = names.get(c);
            LogicalType type = rowType.getTypeAt(c);
            switch (name) {
                case REASON -> reasonCol = c;
                case DETAIL -> detailCol = c;
                case EVENT_TS -> eventTsCol = c;
                case RAW -> rawCol = c;
                case RAW_BYTES -> rawBytesCol = c;
                default -> {
                    Integer slot = contract.index.get(name);
                    if (slot == null) {
                        throw new IllegalArgumentException("column " + name + " is neither a field of the " + domain
                                + " schema nor one of " + SPECIAL);
                    }
                    columnOf[slot] = c;
                    conversionOf[slot] = conversion(name, type);
                }
            }
        }
        kinds = new Kind[contract.size()];
        values = new Object[contract.size()];
    }

    private static int conversion(String name, LogicalType type) {
        return switch (type.getTypeRoot()) {
            case CHAR, VARCHAR -> TO_STRING;
            case DOUBLE, FLOAT -> TO_DOUBLE;
            case BIGINT -> TO_LONG;
            case INTEGER -> TO_INT;
            case BOOLEAN -> TO_BOOLEAN;
            default -> throw new IllegalArgumentException("column " + name + ": type " + type
                    + " is not supported (STRING, DOUBLE, BIGINT, INT, BOOLEAN)");
        };
    }

    @Override
    public RowData deserialize(byte[] message) {
        GenericRowData row = new GenericRowData(arity);
        int length = message == null ? 0 : message.length;
        if (rawCol >= 0 && message != null) {
            row.setField(rawCol, BinaryStringData.fromBytes(message));
        }
        if (rawBytesCol >= 0) {
            row.setField(rawBytesCol, length);
        }
        if (message == null) {
            return invalid(row, "malformed_json", "the record has no value (null)", null);
        }
        if (length > maxBytes) {
            return invalid(row, "oversized", "value of " + length + " bytes is longer than " + maxBytes + " bytes", null);
        }
        java.util.Arrays.fill(kinds, null);
        java.util.Arrays.fill(values, null);
        Kind domainKind;
        try {
            domainKind = read(message);
        } catch (NotAnObject e) {
            return invalid(row, "malformed_json", "expected a JSON object, got " + e.getMessage(), null);
        } catch (IOException | RuntimeException e) {
            String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            int cut = why.indexOf('\n');
            return invalid(row, "malformed_json", "not valid JSON: " + (cut > 0 ? why.substring(0, cut) : why), null);
        }
        String eventId = eventIdText();
        Problem problem = contract.check(kinds, values, domainKind, values[contract.domainIndex]);
        if (problem != null) {
            return invalid(row, problem.reason(), problem.detail(), eventId);
        }
        int t = contract.eventTimeIndex;
        long ms = kinds[t] == Kind.STRING ? EventTime.parseIso((String) values[t])
                : kinds[t] == Kind.INTEGER ? ((Long) values[t] >= 0 ? (Long) values[t] : EventTime.INVALID)
                : kinds[t] == Kind.NUMBER ? EventTime.fromNumber((Double) values[t]) : EventTime.INVALID;
        if (ms == EventTime.INVALID) {
            return invalid(row, "bad_event_time", "event_time: not a calendar timestamp", eventId);
        }
        if (eventTsCol >= 0) {
            row.setField(eventTsCol, TimestampData.fromEpochMillis(ms));
        }
        for (int slot = 0; slot < columnOf.length; slot++) {
            int c = columnOf[slot];
            if (c >= 0 && kinds[slot] != null) {
                row.setField(c, convert(conversionOf[slot], kinds[slot], values[slot]));
            }
        }
        return row;
    }

    private RowData invalid(GenericRowData row, String reason, String detail, String eventId) {
        if (reasonCol >= 0) {
            row.setField(reasonCol, StringData.fromString(reason));
        }
        if (detailCol >= 0) {
            row.setField(detailCol, StringData.fromString(detail));
        }
        int idCol = columnOf[contract.eventIdIndex];
        if (idCol >= 0 && eventId != null && conversionOf[contract.eventIdIndex] == TO_STRING) {
            row.setField(idCol, StringData.fromString(eventId));
        }
        return row;
    }

    /** event_id as text when it is a scalar (the dead-letter record names the event). */
    private String eventIdText() {
        int i = contract.eventIdIndex;
        Kind k = kinds[i];
        if (k == null || k == Kind.NULL || k == Kind.OBJECT || k == Kind.ARRAY) {
            return null;
        }
        return String.valueOf(values[i]);
    }

    private static Object convert(int conversion, Kind kind, Object value) {
        if (kind == Kind.NULL) {
            return null;
        }
        switch (conversion) {
            case TO_STRING:
                return kind == Kind.OBJECT || kind == Kind.ARRAY ? null : StringData.fromString(String.valueOf(value));
            case TO_DOUBLE:
                return kind == Kind.INTEGER ? (Object) ((Long) value).doubleValue() : kind == Kind.NUMBER ? value : null;
            case TO_LONG:
                return kind == Kind.INTEGER ? value : kind == Kind.NUMBER ? (Object) (long) (double) (Double) value : null;
            case TO_INT:
                return kind == Kind.INTEGER ? (Object) (int) (long) (Long) value
                        : kind == Kind.NUMBER ? (Object) (int) (double) (Double) value : null;
            case TO_BOOLEAN:
                return kind == Kind.BOOLEAN ? value : null;
            default:
                return null;
        }
    }

    private static final class NotAnObject extends IOException {
        private static final long serialVersionUID = 1L;

        NotAnObject(String what) {
            super(what);
        }

        @Override
        public synchronized Throwable fillInStackTrace() {
            return this; // an expected outcome, not an error: no stack trace
        }
    }

    /** Reads the top-level object into kinds/values; returns the kind of {@code domain} (null: absent). */
    private Kind read(byte[] message) throws IOException {
        try (JsonParser p = factory.createParser(message)) {
            JsonToken first = p.nextToken();
            if (first != JsonToken.START_OBJECT) {
                if (first == null) {
                    throw new IOException("empty value");
                }
                Kind kind = scalar(p, first);
                if (first == JsonToken.START_ARRAY) {
                    p.skipChildren();
                }
                if (p.nextToken() != null) {
                    throw new IOException("trailing data after the JSON value");
                }
                throw new NotAnObject(EventContract.jsonType(kind));
            }
            String name;
            while ((name = p.nextFieldName()) != null) {
                JsonToken token = p.nextToken();
                Integer slot = contract.index.get(name);
                if (slot == null) {
                    p.skipChildren();
                    continue;
                }
                Kind kind = scalar(p, token);
                if (kind == Kind.INTEGER && p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                    kind = Kind.NUMBER; // beyond 64 bits: a float, as orjson (the edge) reads it
                }
                kinds[slot] = kind;
                values[slot] = value(p, kind);
                if (kind == Kind.OBJECT || kind == Kind.ARRAY) {
                    p.skipChildren();
                }
            }
            if (p.currentToken() != JsonToken.END_OBJECT) {
                throw new IOException("unexpected token " + p.currentToken());
            }
            if (p.nextToken() != null) {
                throw new IOException("trailing data after the JSON object");
            }
        }
        return kinds[contract.domainIndex];
    }

    private static Kind scalar(JsonParser p, JsonToken token) {
        return switch (token) {
            case VALUE_STRING -> Kind.STRING;
            case VALUE_NUMBER_INT -> Kind.INTEGER;
            case VALUE_NUMBER_FLOAT -> Kind.NUMBER;
            case VALUE_TRUE, VALUE_FALSE -> Kind.BOOLEAN;
            case VALUE_NULL -> Kind.NULL;
            case START_OBJECT -> Kind.OBJECT;
            case START_ARRAY -> Kind.ARRAY;
            default -> throw new IllegalStateException("unexpected token " + token);
        };
    }

    private static Object value(JsonParser p, Kind kind) throws IOException {
        switch (kind) {
            case STRING:
                return p.getText();
            case INTEGER:
                return p.getLongValue();
            case NUMBER:
                return p.getDoubleValue();
            case BOOLEAN:
                return p.currentToken() == JsonToken.VALUE_TRUE;
            default:
                return null;
        }
    }

    @Override
    public boolean isEndOfStream(RowData nextElement) {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }
}
