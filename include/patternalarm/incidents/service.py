"""The incident sink as a service of the local stack (started by ``stack up`` under supervisord).

The stack manager imports this module lazily from ``extra_services()``; it imports only the
stack's ``Program``/``Service`` types and the status client, never the sink itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.patternalarm.incidents.status import fetch_status
from include.patternalarm.settings import Settings

if TYPE_CHECKING:
    from include.patternalarm.stack.manager import Service

PROGRAM_NAME = "incident-sink"


def sink_health(settings: Settings) -> str:
    """One line for `stack status`; raises when the sink does not answer or is not consuming."""
    status = fetch_status(settings.host, settings.sink_metrics_port, timeout=3.0)
    if not status.get("healthy"):
        raise RuntimeError(f"sink {status.get('state')}: {status.get('detail') or 'not consuming'}")
    rate = status["rates"]["60s"]["stored_per_s"]
    lag = status["lag"]["total"]
    return (f"consuming {status['topic']} as {status['group']}, lag {lag if lag is not None else 'n/a'}, "
            f"{rate:.1f} alerts/s stored (60s), {status['counts']['stored']} stored since start")


def sink_service(settings: Settings) -> Service:
    from include.patternalarm.stack.manager import Service
    from include.patternalarm.stack.supervisor import Program

    program = Program(
        name=PROGRAM_NAME,
        group="incidents",
        command=[str(settings.venv_dir / "bin" / "python"), "-m", "include.patternalarm.incidents",
                 "--metrics-port", str(settings.sink_metrics_port)],
        ports=(settings.sink_metrics_port,),
        environment={"PYTHONUNBUFFERED": "1"},
        directory=settings.repo_root,
        stopwaitsecs=30,
        startsecs=3,
    )
    return Service(program, sink_health)
