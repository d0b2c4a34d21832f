# The Airflow image for deployments of patternalarm's control plane (DAGs, plugin, domain package).
# Local development and tests do not use containers: `make run` / `make test` run the stack as processes.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless kcat postgresql-client \
 && rm -rf /var/lib/apt/lists/*
USER airflow

COPY --chown=airflow:root requirements.txt /requirements.txt
RUN pip install --no-cache-dir -r /requirements.txt

COPY --chown=airflow:root pyproject.toml README.md /opt/airflow/project/
COPY --chown=airflow:root include /opt/airflow/project/include
RUN pip install --no-cache-dir --no-deps -e /opt/airflow/project
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins
COPY --chown=airflow:root airflow_settings.yaml /opt/airflow/airflow_settings.yaml
