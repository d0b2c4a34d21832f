"""One hook per external system: Flink, Kafka lag, the incident store."""
