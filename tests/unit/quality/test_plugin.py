"""The plugin's shape: every route behind Airflow's login, files only from inside the report folder."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute

from patternalarm_airflow.plugin import URL_PREFIX, PatternalarmPlugin, app, require_report_reader, resolve_inside


def test_every_route_requires_the_report_reader() -> None:
    assert [d.dependency for d in app.router.dependencies] == [require_report_reader]
    routes = [r for r in app.routes]
    assert routes and all(isinstance(r, APIRoute) for r in routes), "no mounted sub-apps (they skip dependencies)"
    assert app.openapi_url is None and app.docs_url is None


def test_views_point_at_the_app() -> None:
    entry = next(e for e in PatternalarmPlugin.fastapi_apps if e["url_prefix"] == URL_PREFIX)
    assert entry["app"] is app
    views = {v["url_route"]: v for v in PatternalarmPlugin.external_views}
    assert views["data-quality"]["href"] == "patternalarm-quality/" and views["data-quality"]["destination"] == "nav"
    assert views["data-quality-run"]["href"] == "patternalarm-quality/airflow-run/{DAG_ID}/{RUN_ID}"
    assert views["incidents"]["href"] == "patternalarm-incidents/"  # the incident console (tests/unit/console)
    assert len(views) == len(PatternalarmPlugin.external_views), "every view has its own route"


def test_the_chaos_report_app_requires_its_reader_too() -> None:
    from patternalarm_airflow.chaos import app as chaos
    from patternalarm_airflow.chaos import require_chaos_reader

    assert [d.dependency for d in chaos.router.dependencies] == [require_chaos_reader]
    assert all(isinstance(r, APIRoute) for r in chaos.routes) and chaos.openapi_url is None
    entry = next(e for e in PatternalarmPlugin.fastapi_apps if e["url_prefix"] == "/patternalarm-chaos")
    assert entry["app"] is chaos
    assert ("nav", "patternalarm-chaos/") in {(v["destination"], v["href"]) for v in PatternalarmPlugin.external_views}


def test_paths_stay_inside_the_report_folder(tmp_path: Path) -> None:
    root = tmp_path / "quality"
    (root / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "secrets.env").write_text("x")
    (root / "escape").symlink_to(tmp_path)
    assert resolve_inside(root, "runs/r1") == (root / "runs" / "r1").resolve()
    assert resolve_inside(root, "") == root.resolve()
    for bad in ("../secrets.env", "runs/../../secrets.env", "/etc/passwd", "escape/secrets.env"):
        assert resolve_inside(root, bad) is None, bad
