"""PySpark job entry points (submitted with SparkSubmitOperator; depend on include.patternalarm + pyspark)."""
