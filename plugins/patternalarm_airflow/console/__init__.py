"""The analysts' incident console inside the Airflow UI (*Browse → Incidents*): queue, incident pages,
actions and rule quality, served by the plugin's FastAPI app ``app`` at ``URL_PREFIX``."""

from patternalarm_airflow.console.app import URL_PREFIX, app

__all__ = ["URL_PREFIX", "app"]
