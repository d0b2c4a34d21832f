package io.patternalarm.flink.format;

import java.util.Set;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;

/**
 * {@code 'value.format' = 'patternalarm-event'}: the domain's events parsed and validated once (see
 * {@link EventDeserializer}). Options: {@code domain}, {@code schema} (the JSON Schema text; the job
 * carries the contract it validates with) and {@code max-bytes}.
 */
public final class EventFormatFactory implements DeserializationFormatFactory {
    public static final String IDENTIFIER = "patternalarm-event";

    public static final ConfigOption<String> DOMAIN = ConfigOptions.key("domain").stringType().noDefaultValue()
            .withDescription("the events' domain (the schema's domain const)");
    public static final ConfigOption<String> SCHEMA = ConfigOptions.key("schema").stringType().noDefaultValue()
            .withDescription("the domain's JSON Schema, as text");
    public static final ConfigOption<Integer> MAX_BYTES = ConfigOptions.key("max-bytes").intType().defaultValue(65536)
            .withDescription("larger values are dead-lettered as oversized");

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(DynamicTableFactory.Context context,
                                                                               ReadableConfig options) {
        FactoryUtil.validateFactoryOptions(this, options);
        String domain = options.get(DOMAIN);
        String schema = options.get(SCHEMA);
        int maxBytes = options.get(MAX_BYTES);
        EventContract.compile(domain, schema); // fail the statement, not the job, on a bad schema
        return new DecodingFormat<>() {
            @Override
            public DeserializationSchema<RowData> createRuntimeDecoder(DynamicTableSource.Context ctx, DataType type) {
                RowType rowType = (RowType) type.getLogicalType();
                TypeInformation<RowData> produced = ctx.createTypeInformation(type);
                EventDeserializer deserializer = new EventDeserializer(domain, schema, maxBytes, rowType, produced);
                deserializer.setUp(); // column/field mismatches fail at planning time with their message
                return deserializer;
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(DOMAIN, SCHEMA);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Set.of(MAX_BYTES);
    }
}
