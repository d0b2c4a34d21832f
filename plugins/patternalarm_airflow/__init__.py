"""patternalarm's Airflow provider-style package: hooks, operators, sensors and triggers.

Import it as ``patternalarm_airflow`` (Airflow puts plugins/ on sys.path). It depends on the
domain package ``include.patternalarm``; DAGs depend on it; nothing here imports from dags/.
"""
