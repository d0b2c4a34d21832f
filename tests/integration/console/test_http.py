"""The console's routes over plain HTTP: no route without a login, who may act, forms only from this origin,
and the plugin's place in the Airflow UI."""

from __future__ import annotations

import pytest
import requests

from include.patternalarm.settings import Settings
from tests.integration.console.conftest import PREFIX, Incidents, token
from tests.support import unique

ALERT = "0" * 64
ROUTES = [("GET", "/"), ("GET", "/?status=all&entity=x"), ("GET", "/incidents/1"), ("GET", "/rules"),
          ("GET", f"/alerts/{ALERT}/events"), ("GET", "/static/console.css"), ("GET", "/static/console.js"),
          ("GET", "/no-such-page"), ("POST", "/incidents/1/ack"), ("POST", "/incidents/1/resolve"),
          ("POST", "/incidents/1/silence"), ("POST", "/incidents/1/maintenance")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_route_answers_without_a_login(console: str, method: str, path: str) -> None:
    anonymous = requests.request(method, f"{console}{PREFIX}{path}", timeout=10, allow_redirects=False)
    assert anonymous.status_code == 401, anonymous.text[:300]
    forged = requests.request(method, f"{console}{PREFIX}{path}", timeout=10, allow_redirects=False,
                              headers={"Authorization": "Bearer not-a-token"}, cookies={"_token": "forged"})
    assert forged.status_code in (401, 403)
    assert "Incident queue" not in forged.text


def test_a_browser_without_a_session_gets_a_sign_in_link(console: str) -> None:
    page = requests.get(f"{console}{PREFIX}/incidents/7", timeout=10, headers={"Accept": "text/html"})
    assert page.status_code == 401 and "/auth/login?next=%2Fpatternalarm-incidents%2Fincidents%2F7" in page.text


def test_pages_carry_a_strict_content_security_policy(console: str, stack_settings: Settings) -> None:
    page = requests.get(f"{console}{PREFIX}/", timeout=10,
                        cookies={"_token": token(console, stack_settings, stack_settings.airflow_viewer_user)})
    assert page.status_code == 200 and "Incident queue" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'self'" in policy
    assert "http" not in policy.replace("'self'", "")  # nothing from other hosts
    assert "<script src=\"./static/console.js\"" in page.text and "https://" not in page.text


def test_acting_needs_the_analyst_permission_and_this_origin(console: str, stack_settings: Settings,
                                                            make_incident: Incidents) -> None:
    incident = make_incident(unique("console-rule"), unique("card"))
    url = f"{console}{PREFIX}/incidents/{incident}/ack"
    form = {"version": "999999999"}
    viewer = {"_token": token(console, stack_settings, stack_settings.airflow_viewer_user)}
    analyst = {"_token": token(console, stack_settings, stack_settings.airflow_analyst_user)}

    as_viewer = requests.post(url, data=form, cookies=viewer, headers={"Origin": console}, timeout=10,
                              allow_redirects=False)
    assert as_viewer.status_code == 403 and "analyst permission" in as_viewer.text
    for headers in ({}, {"Origin": "http://evil.example"}, {"Referer": "http://evil.example/page"},
                    {"Origin": "null"}):
        cross_site = requests.post(url, data=form, cookies=analyst, headers=headers, timeout=10, allow_redirects=False)
        assert cross_site.status_code == 403, headers
    page = requests.get(f"{console}{PREFIX}/incidents/{incident}", cookies=viewer, timeout=10)
    assert page.status_code == 200 and 'data-testid="status">open<' in page.text

    assert 'name="version"' not in page.text, "a viewer's page has no action forms"
    analyst_page = requests.get(f"{console}{PREFIX}/incidents/{incident}", cookies=analyst, timeout=10).text
    version = int(analyst_page.split('name="version" value="')[1].split('"')[0])
    done = requests.post(url, data={"version": str(version)}, cookies=analyst, headers={"Origin": console},
                         timeout=10, allow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"../{incident}?done=ack"
    again = requests.post(url, data={"version": str(version)}, cookies=analyst, headers={"Origin": console},
                          timeout=10, allow_redirects=False)
    assert again.status_code == 409 and "changed after you loaded it: acknowledged by" in again.text


def test_the_console_is_a_navigation_entry_of_the_airflow_ui(console: str, stack_settings: Settings) -> None:
    headers = {"Authorization": f"Bearer {token(console, stack_settings, stack_settings.airflow_admin_user)}"}
    plugins = requests.get(f"{console}/api/v2/plugins", headers=headers, timeout=10).json()["plugins"]
    ours = next(p for p in plugins if p["name"] == "patternalarm")
    view = next(v for v in ours["external_views"] if v["name"] == "Incidents")
    assert (view["href"], view["destination"], view["url_route"]) == ("patternalarm-incidents/", "nav", "incidents")
    assert PREFIX in [a["url_prefix"] for a in ours["fastapi_apps"]]
    icon = requests.get(f"{console}/{view['icon']}", headers=headers, timeout=10)
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
