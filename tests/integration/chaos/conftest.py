"""The chaos tests need the platform as an experiment finds it: every detection job running under the
deployment record (experiments, and their dry runs, refuse a platform that is not healthy before the fault)."""

from __future__ import annotations

import pytest

from include.patternalarm.control import deployer
from include.patternalarm.control.deployments import DeploymentStore
from include.patternalarm.flink.deploy import find_job
from include.patternalarm.settings import Settings
from include.patternalarm.topics import DOMAINS


@pytest.fixture(scope="session")
def platform_running(stack_settings: Settings) -> None:
    store = DeploymentStore.from_settings(stack_settings)
    for domain in DOMAINS:
        if find_job(stack_settings, domain) is None or store.desired(domain) is None:
            deployer.deploy(stack_settings, store, domain, requested_by="test/chaos", lock_wait_s=120)
