-- Wraps each rule's final SELECT (entity, first_event_id, first_event_time, last_event_time,
-- evidence) into the alert JSON of docs/contracts.md. The alert_id is deterministic:
-- sha256(rule_id|rule_version|entity|first matched event_id) with `\` doubled and `|` escaped in each
-- part (docs/contracts.md), so a replay or a restart from a checkpoint re-emits the same id.
-- detected_at is Flink's processing time.
INSERT INTO alerts_sink
SELECT entity, CONCAT(SUBSTR(h, 1, CHAR_LENGTH(h) - 1), ',"evidence":', evidence, '}')
FROM (
  SELECT entity, evidence, JSON_OBJECT(
    KEY 'alert_id' VALUE SHA256(CONCAT_WS('|', '{{ rule.id }}', '{{ rule.version }}',
      REPLACE(REPLACE(entity, '\', '\\'), '|', '\|'), REPLACE(REPLACE(first_event_id, '\', '\\'), '|', '\|'))),
    KEY 'rule_id' VALUE '{{ rule.id }}',
    KEY 'rule_version' VALUE {{ rule.version }},
    KEY 'domain' VALUE '{{ domain.name }}',
    KEY 'entity' VALUE entity,
    KEY 'severity' VALUE '{{ rule.severity }}',
    KEY 'first_event_time' VALUE DATE_FORMAT(first_event_time, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z'''),
    KEY 'last_event_time' VALUE DATE_FORMAT(last_event_time, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z'''),
    KEY 'detected_at' VALUE DATE_FORMAT(CURRENT_TIMESTAMP, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z''')
  ) AS h
  FROM (
{{ rule.select }}
  ) AS {{ rule.id }}_rows
  WHERE entity IS NOT NULL AND first_event_id IS NOT NULL
)
