"""Who may use the incident console: Airflow's own authentication and auth manager decide.

- Every route needs a logged-in Airflow user (the UI's ``_token`` cookie or a bearer token): 401
  otherwise (``authenticated_user``).
- **Reading** (queue, incident pages, rule quality) needs read access to the console's custom view
  ``Incidents`` — every role of the SimpleAuthManager, ``viewer`` included.
- **Acting** (acknowledge, assign, resolve, reopen, silence, maintenance) needs the analyst
  permission: edit access to the ``Incidents`` view *and* to DAG runs. Under the SimpleAuthManager,
  which does not tell methods apart for custom views, that is the ``user`` role or higher (``op``,
  ``admin``); a ``viewer`` gets 403. With the FAB auth manager, grant ``can_edit`` on ``Incidents``
  and on DAG runs to the analysts' role.
- Browsers post forms: a POST must come from this origin (``Origin``, else ``Referer``), so another site
  cannot make a logged-in analyst's browser act (the cookie alone is not enough).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

RESOURCE = "Incidents"


async def authenticated_user(request: Request) -> Any:
    """The Airflow user of this request; 401 without a valid token or session cookie."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    return await get_user(request, None, credentials)


def dag_run_reader(dag_id: str, what: str) -> Callable[[Request], Awaitable[Any]]:
    """A route dependency: the logged-in user (else 401) with read access to ``dag_id``'s runs (else 403
    naming ``what`` needs it) — for the reports those runs write (data quality, backtests)."""

    async def require(request: Request) -> Any:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

        user = await authenticated_user(request)
        allowed = get_auth_manager().is_authorized_dag(method="GET", access_entity=DagAccessEntity.RUN,
                                                       details=DagDetails(id=dag_id), user=user)
        if not allowed:
            raise HTTPException(status_code=403, detail=f"{what} needs read access to the runs of the {dag_id} DAG")
        return user

    require.__name__ = f"require_{dag_id}_reader"
    return require


def may_read(user: Any) -> bool:
    from airflow.api_fastapi.app import get_auth_manager

    return bool(get_auth_manager().is_authorized_custom_view(method="GET", resource_name=RESOURCE, user=user))


def may_act(user: Any) -> bool:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

    manager = get_auth_manager()
    return bool(manager.is_authorized_custom_view(method="PUT", resource_name=RESOURCE, user=user)
                and manager.is_authorized_dag(method="PUT", access_entity=DagAccessEntity.RUN, user=user))


async def require_reader(request: Request) -> Any:
    """Every console route: a logged-in user with read access (else 401/403); kept on ``request.state``."""
    user = await authenticated_user(request)
    if not may_read(user):
        raise HTTPException(status_code=403, detail=f"reading incidents needs read access to the {RESOURCE} view")
    request.state.console_user = user
    request.state.console_may_act = may_act(user)
    return user


async def require_analyst(request: Request) -> Any:
    """Action routes: the analyst permission (else 403) and a same-origin request (else 403)."""
    user = await require_reader(request)
    if not request.state.console_may_act:
        raise HTTPException(status_code=403, detail="acting on incidents needs the analyst permission (Airflow role "
                                                    "'user' or higher); this account may only read")
    if not same_origin(request):
        raise HTTPException(status_code=403, detail="a form from another site (Origin/Referer is not this server) "
                                                    "was refused")
    return user


def same_origin(request: Request) -> bool:
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    host = request.headers.get("host", "")
    return parts.scheme in ("http", "https") and parts.netloc == host


def user_name(user: Any) -> str:
    return str(user.get_name())
