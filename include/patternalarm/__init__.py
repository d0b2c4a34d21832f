"""patternalarm: streaming fraud detection and anomaly alerting (the domain package).

This package imports nothing from Airflow, PyFlink or PySpark; the same code runs in the CLI,
in Airflow tasks, in tests and in Spark jobs.
"""

__version__ = "0.1.0"
