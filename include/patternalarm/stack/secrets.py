"""Local secrets: generated once into ``<data_dir>/secrets.env`` (mode 0600), never in code."""

from __future__ import annotations

import base64
import os
import secrets as pysecrets

from include.patternalarm.settings import GENERATED_SECRETS, Settings, reload_settings


def _generate(name: str) -> str:
    if name == "airflow_fernet_key":
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    return pysecrets.token_urlsafe(24)


def ensure_secrets(settings: Settings) -> Settings:
    """Write a value for every secret that has none (env or file); return fresh settings."""
    missing = [name for name in GENERATED_SECRETS if getattr(settings, name) is None]
    if not missing:
        return settings
    path = settings.secrets_file
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = path.read_text().splitlines() if path.exists() else []
    lines += [f"PATTERNALARM_{name.upper()}={_generate(name)}" for name in missing]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return reload_settings()
