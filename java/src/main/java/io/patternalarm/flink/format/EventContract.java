package io.patternalarm.flink.format;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A domain's event contract compiled from its JSON Schema (include/patternalarm/events/schemas): the
 * Java twin of {@code include.patternalarm.events.schema.EventValidator}. Same keywords (refusing any
 * other), same order of checks, same reason codes, so an event dead-lettered at the edge (replay) and
 * in the Flink job carries the same reason; tests/vectors/events.json holds the shared test vectors.
 *
 * <p>Order: not an object → malformed_json; {@code domain} present and not this domain →
 * unknown_domain; a required field absent or null → missing_field:&lt;f&gt; (schema order); a present
 * field failing its rule → wrong_type:&lt;f&gt; (event_time: bad_event_time); a conditional (if field
 * in values then required/rules) → missing_field / wrong_type.
 */
public final class EventContract implements Serializable {
    private static final long serialVersionUID = 1L;

    static final Set<String> RULE_KEYS = Set.of("type", "enum", "const", "minimum", "maximum", "minLength",
            "maxLength", "pattern", "anyOf", "description", "title", "format");
    static final Set<String> TOP_KEYS = Set.of("$schema", "$id", "title", "description", "type", "required",
            "properties", "allOf", "additionalProperties");

    /** Raised when the schema uses a keyword this compiler does not implement. */
    public static final class SchemaCompileException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        SchemaCompileException(String message) {
            super(message);
        }
    }

    final String domain;
    /** property name → index into the value arrays (schema order). */
    final Map<String, Integer> index = new HashMap<>();
    final List<String> names = new ArrayList<>();
    final int[] required;
    /** rules in schema order, without {@code domain} (checked first, reported as unknown_domain). */
    final Rule[] rules;
    final Conditional[] conditionals;
    final int domainIndex;
    final int eventTimeIndex;
    final int eventIdIndex;

    private EventContract(String domain, JsonNode schema) {
        this.domain = domain;
        Iterator<String> top = schema.fieldNames();
        while (top.hasNext()) {
            String key = top.next();
            if (!TOP_KEYS.contains(key)) {
                throw new SchemaCompileException(domain + ": unsupported top-level keyword " + key);
            }
        }
        if (!"object".equals(schema.path("type").asText())) {
            throw new SchemaCompileException(domain + ": an event schema must be of type object");
        }
        JsonNode additional = schema.get("additionalProperties");
        if (additional != null && !additional.asBoolean(false)) {
            throw new SchemaCompileException(domain + ": additionalProperties must stay true");
        }
        JsonNode props = schema.path("properties");
        List<Rule> ruleList = new ArrayList<>();
        Iterator<Map.Entry<String, JsonNode>> it = props.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            int i = names.size();
            names.add(e.getKey());
            index.put(e.getKey(), i);
            Rule rule = Rule.compile(e.getKey(), i, e.getValue());
            if (!e.getKey().equals("domain")) {
                ruleList.add(rule);
            }
        }
        this.rules = ruleList.toArray(new Rule[0]);
        List<Integer> req = new ArrayList<>();
        for (JsonNode r : schema.path("required")) {
            req.add(slot(r.asText()));
        }
        this.required = req.stream().mapToInt(Integer::intValue).toArray();
        List<Conditional> conds = new ArrayList<>();
        for (JsonNode c : schema.path("allOf")) {
            conds.add(Conditional.compile(this, c));
        }
        this.conditionals = conds.toArray(new Conditional[0]);
        this.domainIndex = slot("domain");
        this.eventTimeIndex = slot("event_time");
        this.eventIdIndex = slot("event_id");
    }

    /** Compile {@code schemaJson} (the text of a domain schema file) for {@code domain}. */
    public static EventContract compile(String domain, String schemaJson) {
        try {
            return new EventContract(domain, new ObjectMapper().readTree(schemaJson));
        } catch (IOException e) {
            throw new SchemaCompileException(domain + ": the schema is not valid JSON: " + e.getMessage());
        }
    }

    int slot(String name) {
        Integer i = index.get(name);
        if (i == null) {
            throw new SchemaCompileException(domain + ": field " + name + " is not a property of the schema");
        }
        return i;
    }

    public List<String> fieldNames() {
        return names;
    }

    public int size() {
        return names.size();
    }

    /** The JSON kinds a decoded value can have (Python's json types). */
    enum Kind { STRING, INTEGER, NUMBER, BOOLEAN, NULL, OBJECT, ARRAY }

    /** Why an event is invalid: the dead-letter reason code and a human detail. */
    public record Problem(String reason, String detail) implements Serializable {}

    /**
     * Check a decoded event: {@code kinds[i]} is null when property i is absent; {@code values[i]} is
     * a String, Long, Double, Boolean or null (objects/arrays: null with kind OBJECT/ARRAY).
     */
    public Problem check(Kind[] kinds, Object[] values, Kind domainKind, Object domainValue) {
        if (domainKind != null && domainKind != Kind.NULL && !(domainKind == Kind.STRING && domain.equals(domainValue))) {
            return new Problem("unknown_domain", "domain " + shortRepr(domainKind, domainValue)
                    + " does not belong to events." + domain);
        }
        for (int i : required) {
            if (kinds[i] == null || kinds[i] == Kind.NULL) {
                return new Problem("missing_field:" + names.get(i), "required field '" + names.get(i) + "' is missing or null");
            }
        }
        for (Rule rule : rules) {
            Kind kind = kinds[rule.slot];
            if (kind == null) {
                continue;
            }
            String why = rule.check(kind, values[rule.slot]);
            if (why != null) {
                if (rule.slot == eventTimeIndex) {
                    return new Problem("bad_event_time", "event_time: " + why);
                }
                return new Problem("wrong_type:" + rule.name, rule.name + ": " + why);
            }
        }
        for (Conditional c : conditionals) {
            Kind kind = kinds[c.field];
            if (kind == null || c.when.check(kind, values[c.field]) != null) {
                continue;
            }
            String shown = shortRepr(kind, values[c.field]);
            for (int r : c.required) {
                if (kinds[r] == null || kinds[r] == Kind.NULL) {
                    return new Problem("missing_field:" + names.get(r),
                            names.get(c.field) + "=" + shown + " requires field '" + names.get(r) + "'");
                }
            }
            for (Rule rule : c.rules) {
                String why = rule.check(kinds[rule.slot] == null ? Kind.NULL : kinds[rule.slot], values[rule.slot]);
                if (why != null) {
                    return new Problem("wrong_type:" + rule.name,
                            rule.name + ": " + why + " (when " + names.get(c.field) + "=" + shown + ")");
                }
            }
        }
        return null;
    }

    static String jsonType(Kind kind) {
        return switch (kind) {
            case STRING -> "string";
            case INTEGER -> "integer";
            case NUMBER -> "number";
            case BOOLEAN -> "boolean";
            case NULL -> "null";
            case OBJECT -> "object";
            case ARRAY -> "array";
        };
    }

    static String repr(Kind kind, Object value) {
        return switch (kind) {
            case STRING -> "'" + value + "'";
            case BOOLEAN -> Boolean.TRUE.equals(value) ? "True" : "False";
            case NULL -> "None";
            case OBJECT -> "{...}";
            case ARRAY -> "[...]";
            case NUMBER -> {
                double d = (Double) value;
                yield Double.isNaN(d) ? "nan" : Double.isInfinite(d) ? (d > 0 ? "inf" : "-inf") : String.valueOf(d);
            }
            default -> String.valueOf(value);
        };
    }

    static String shortRepr(Kind kind, Object value) {
        String text = repr(kind, value);
        return text.length() <= 60 ? text : text.substring(0, 57) + "...";
    }

    /** One property's rule (the subset of JSON Schema the event schemas use). */
    static final class Rule implements Serializable {
        private static final long serialVersionUID = 1L;
        final String name;
        final int slot;
        EnumSetOfKinds types; // null: any type
        List<Object[]> enumValues; // {Kind, value}
        Object[] constValue; // {Kind, value}
        Double minimum;
        Double maximum;
        Integer minLength;
        Integer maxLength;
        Pattern pattern;
        String patternText;
        Rule[] anyOf = new Rule[0];
        String typesText = "";
        /** valid pattern-checked strings seen (few distinct values: currency, country…). */
        transient Set<String> memo;

        Rule(String name, int slot) {
            this.name = name;
            this.slot = slot;
        }

        static Rule compile(String name, int slot, JsonNode spec) {
            Iterator<String> keys = spec.fieldNames();
            while (keys.hasNext()) {
                String k = keys.next();
                if (!RULE_KEYS.contains(k)) {
                    throw new SchemaCompileException("field '" + name + "': unsupported keyword " + k);
                }
            }
            Rule rule = new Rule(name, slot);
            JsonNode type = spec.get("type");
            if (type != null) {
                List<String> list = new ArrayList<>();
                if (type.isArray()) {
                    type.forEach(t -> list.add(t.asText()));
                } else {
                    list.add(type.asText());
                }
                rule.types = EnumSetOfKinds.of(list);
                rule.typesText = String.join(" or ", list);
            }
            if (spec.has("enum")) {
                rule.enumValues = new ArrayList<>();
                for (JsonNode v : spec.get("enum")) {
                    rule.enumValues.add(literal(v));
                }
            }
            if (spec.has("const")) {
                rule.constValue = literal(spec.get("const"));
            }
            if (spec.has("minimum")) {
                rule.minimum = spec.get("minimum").asDouble();
            }
            if (spec.has("maximum")) {
                rule.maximum = spec.get("maximum").asDouble();
            }
            if (spec.has("minLength")) {
                rule.minLength = spec.get("minLength").asInt();
            }
            if (spec.has("maxLength")) {
                rule.maxLength = spec.get("maxLength").asInt();
            }
            if (spec.has("pattern")) {
                rule.patternText = spec.get("pattern").asText();
                rule.pattern = Pattern.compile(rule.patternText);
            }
            if (spec.has("anyOf")) {
                List<Rule> alternatives = new ArrayList<>();
                for (JsonNode sub : spec.get("anyOf")) {
                    alternatives.add(compile(name, slot, sub));
                }
                rule.anyOf = alternatives.toArray(new Rule[0]);
            }
            return rule;
        }

        static Object[] literal(JsonNode v) {
            if (v.isNull()) {
                return new Object[] {Kind.NULL, null};
            }
            if (v.isTextual()) {
                return new Object[] {Kind.STRING, v.asText()};
            }
            if (v.isBoolean()) {
                return new Object[] {Kind.BOOLEAN, v.asBoolean()};
            }
            if (v.isIntegralNumber()) {
                return new Object[] {Kind.INTEGER, v.asLong()};
            }
            if (v.isNumber()) {
                return new Object[] {Kind.NUMBER, v.asDouble()};
            }
            throw new SchemaCompileException("enum/const values must be scalars");
        }

        /** The set of kinds this rule may take (for the table's column types). */
        Set<Kind> kinds() {
            Set<Kind> out = new HashSet<>();
            if (types != null) {
                out.addAll(types.kinds);
            } else if (enumValues != null) {
                enumValues.forEach(v -> out.add((Kind) v[0]));
            } else if (constValue != null) {
                out.add((Kind) constValue[0]);
            } else if (anyOf.length > 0) {
                for (Rule r : anyOf) {
                    out.addAll(r.kinds());
                }
            } else {
                out.addAll(List.of(Kind.values()));
            }
            return out;
        }

        /** null when valid, else what is wrong (Python's wording). */
        String check(Kind kind, Object value) {
            if (anyOf.length > 0) {
                StringBuilder failures = new StringBuilder();
                for (Rule alternative : anyOf) {
                    String why = alternative.check(kind, value);
                    if (why == null) {
                        return null;
                    }
                    if (failures.length() > 0) {
                        failures.append("; ");
                    }
                    failures.append(why);
                }
                return failures.toString();
            }
            if (types != null) {
                if (!types.accepts(kind)) {
                    return "expected " + typesText + ", got " + jsonType(kind);
                }
                if (kind == Kind.NUMBER) {
                    double d = (Double) value;
                    if (Double.isNaN(d) || Double.isInfinite(d)) {
                        return "expected " + typesText + ", got " + repr(kind, value);
                    }
                    if (types.integral && d != Math.rint(d)) {
                        return "expected " + typesText + ", got " + repr(kind, value);
                    }
                }
            }
            if (enumValues != null) {
                boolean found = false;
                for (Object[] e : enumValues) {
                    if (e[0] == kind && (kind == Kind.NULL || e[1].equals(value))) {
                        found = true;
                        break;
                    }
                }
                if (!found) {
                    StringBuilder allowed = new StringBuilder();
                    for (Object[] e : enumValues) {
                        if (allowed.length() > 0) {
                            allowed.append(", ");
                        }
                        allowed.append(e[0] == Kind.NULL ? "null" : String.valueOf(e[1]));
                    }
                    return shortRepr(kind, value) + " is not one of " + allowed;
                }
            }
            if (constValue != null && !(constValue[0] == kind && (kind == Kind.NULL || constValue[1].equals(value)))) {
                return shortRepr(kind, value) + " is not " + repr((Kind) constValue[0], constValue[1]);
            }
            boolean numeric = types == null || types.kinds.contains(Kind.NUMBER) || types.kinds.contains(Kind.INTEGER);
            if (numeric && (kind == Kind.INTEGER || kind == Kind.NUMBER)) {
                double d = kind == Kind.INTEGER ? ((Long) value).doubleValue() : (Double) value;
                if (minimum != null && d < minimum) {
                    return repr(kind, value) + " is below the minimum " + number(minimum);
                }
                if (maximum != null && d > maximum) {
                    return repr(kind, value) + " is above the maximum " + number(maximum);
                }
            }
            if (kind == Kind.STRING) {
                String s = (String) value;
                if (minLength != null || maxLength != null) {
                    int length = s.codePointCount(0, s.length());
                    if (minLength != null && length < minLength) {
                        return shortRepr(kind, value) + " is shorter than " + minLength;
                    }
                    if (maxLength != null && length > maxLength) {
                        return "string of " + length + " characters is longer than " + maxLength;
                    }
                }
                if (pattern != null && !matches(s)) {
                    return shortRepr(kind, value) + " does not match " + patternText;
                }
            }
            return null;
        }

        private boolean matches(String s) {
            Set<String> seen = memo;
            if (seen == null) {
                seen = new HashSet<>();
                memo = seen;
            }
            if (seen.contains(s)) {
                return true;
            }
            if (!pattern.matcher(s).find()) {
                return false;
            }
            if (seen.size() < 4096) {
                seen.add(s);
            }
            return true;
        }

        private static String number(double d) {
            return d == Math.rint(d) && Math.abs(d) < 1e15 ? String.valueOf((long) d) : String.valueOf(d);
        }
    }

    /** Which JSON kinds a "type" list accepts ("integer" also takes integral floats, as Python does). */
    static final class EnumSetOfKinds implements Serializable {
        private static final long serialVersionUID = 1L;
        final Set<Kind> kinds = new HashSet<>();
        boolean integral;

        static EnumSetOfKinds of(List<String> names) {
            EnumSetOfKinds set = new EnumSetOfKinds();
            for (String n : names) {
                switch (n) {
                    case "string" -> set.kinds.add(Kind.STRING);
                    case "number" -> set.kinds.add(Kind.NUMBER);
                    case "integer" -> set.kinds.add(Kind.INTEGER);
                    case "boolean" -> set.kinds.add(Kind.BOOLEAN);
                    case "null" -> set.kinds.add(Kind.NULL);
                    case "object" -> set.kinds.add(Kind.OBJECT);
                    case "array" -> set.kinds.add(Kind.ARRAY);
                    default -> throw new SchemaCompileException("unknown JSON type " + n);
                }
            }
            set.integral = set.kinds.contains(Kind.INTEGER) && !set.kinds.contains(Kind.NUMBER);
            return set;
        }

        boolean accepts(Kind kind) {
            if (kinds.contains(kind)) {
                return true;
            }
            // Python: "number" and "integer" both accept int and float values (integer: integral ones)
            if (kind == Kind.INTEGER && kinds.contains(Kind.NUMBER)) {
                return true;
            }
            return kind == Kind.NUMBER && kinds.contains(Kind.INTEGER);
        }
    }

    /** {@code if {field in values} then {required + rules}}. */
    static final class Conditional implements Serializable {
        private static final long serialVersionUID = 1L;
        final int field;
        final Rule when;
        final int[] required;
        final Rule[] rules;

        Conditional(int field, Rule when, int[] required, Rule[] rules) {
            this.field = field;
            this.when = when;
            this.required = required;
            this.rules = rules;
        }

        static Conditional compile(EventContract contract, JsonNode spec) {
            JsonNode cond = spec.path("if");
            JsonNode then = spec.path("then");
            Map<String, JsonNode> props = new LinkedHashMap<>();
            cond.path("properties").fields().forEachRemaining(e -> props.put(e.getKey(), e.getValue()));
            if (props.size() != 1) {
                throw new SchemaCompileException("allOf 'if' must test exactly one property");
            }
            Map.Entry<String, JsonNode> test = props.entrySet().iterator().next();
            int field = contract.slot(test.getKey());
            List<Integer> required = new ArrayList<>();
            for (JsonNode r : then.path("required")) {
                required.add(contract.slot(r.asText()));
            }
            List<Rule> rules = new ArrayList<>();
            then.path("properties").fields().forEachRemaining(
                    e -> rules.add(Rule.compile(e.getKey(), contract.slot(e.getKey()), e.getValue())));
            return new Conditional(field, Rule.compile(test.getKey(), field, test.getValue()),
                    required.stream().mapToInt(Integer::intValue).toArray(), rules.toArray(new Rule[0]));
        }
    }
}
