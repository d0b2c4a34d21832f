"""Fixtures for the incident console: an api-server of our own running this checkout's plugin, a real
headless Chromium (Debian's ``chromium``, driven by Playwright), logged-in pages per Airflow user, and
incidents made the way the sink makes them (``ingest_alerts`` as the sink role).

Playwright's own browser download cannot be used here (no network for it): the tests drive
``/usr/bin/chromium`` with a fresh user-data-dir per page and the flags of the machine's notes.
Every test makes its own rule ids and entities (``unique``); the shared tables may hold anything else.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from include.patternalarm.incidents.synthetic import synthetic_alert
from include.patternalarm.settings import Settings
from tests.support import own_api_server, unique

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PREFIX = "/patternalarm-incidents"


@pytest.fixture(scope="session")
def console(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of an api-server that loaded this checkout's console."""
    log = tmp_path_factory.mktemp("console") / "api-server.log"
    with own_api_server(stack_settings, log) as base:
        yield base


def password(settings: Settings, user: str) -> str:
    secret = {settings.airflow_admin_user: "airflow_admin_password",
              settings.airflow_analyst_user: "airflow_analyst_password",
              settings.airflow_viewer_user: "airflow_viewer_password"}[user]
    return settings.secret(secret)


def token(base: str, settings: Settings, user: str) -> str:
    response = requests.post(f"{base}/auth/token", timeout=10,
                             json={"username": user, "password": password(settings, user)})
    response.raise_for_status()
    return response.json()["access_token"]


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: `make setup` installs Debian's chromium package"
    with sync_playwright() as driver:
        yield driver


Browse = Callable[..., Any]


@pytest.fixture
def browse(playwright_driver: Any, console: str, stack_settings: Settings, tmp_path: Path) -> Iterator[Browse]:
    """``browse(user, login="form"|"cookie")`` → a Playwright page of a fresh Chromium profile, signed in to
    Airflow as ``user``: through the login form, or with the UI's ``_token`` cookie set directly."""
    contexts: list[Any] = []
    port = urlsplit(console).port

    def open_page(user: str, login: str = "form") -> Any:
        context = playwright_driver.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{len(contexts)}"), executable_path=CHROMIUM, headless=True,
            args=[*CHROMIUM_ARGS, f"--explicitly-allowed-ports={port}"], viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        context.set_default_timeout(20_000)
        page = context.pages[0] if context.pages else context.new_page()
        if login == "form":
            page.goto(f"{console}/auth/login?next=/")
            page.get_by_label("Username").fill(user)
            page.get_by_label("Password").fill(password(stack_settings, user))
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{console}/")
        else:
            context.add_cookies([{"name": "_token", "value": token(console, stack_settings, user), "url": console}])
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def reporting(stack_settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(stack_settings.db_conninfo("reporting"), autocommit=True, row_factory=dict_row) as conn:
        yield conn


Incidents = Callable[..., int]


@pytest.fixture
def make_incident(stack_settings: Settings, reporting: psycopg.Connection) -> Iterator[Incidents]:
    """``make_incident(rule, entity, [evidence, …], domain=…, severity=…)`` → the id of the incident the sink's
    grouping opens for those alerts (one alert per evidence dict, a minute apart, ending a few minutes ago)."""
    sink = psycopg.connect(stack_settings.db_conninfo("sink"), autocommit=True)

    def make(rule: str, entity: str, evidences: list[dict[str, Any]] | None = None, *, domain: str = "payments",
             severity: str = "high") -> int:
        evidences = evidences or [{}]
        start = datetime.now(UTC) - timedelta(minutes=len(evidences) + 2)
        alerts = [synthetic_alert(rule, entity, unique(f"{entity}-ev"), domain=domain, severity=severity,
                                  first_event_time=start + timedelta(minutes=i), span=timedelta(seconds=20), **ev)
                  for i, ev in enumerate(evidences)]
        sink.execute("SELECT ingest_alerts(%s)", [Jsonb(alerts)])
        row = reporting.execute("SELECT incident_id FROM incidents WHERE rule_id = %s AND entity = %s "
                                "ORDER BY incident_id DESC LIMIT 1", (rule, entity)).fetchone()
        assert row is not None
        return row["incident_id"]

    yield make
    sink.close()
