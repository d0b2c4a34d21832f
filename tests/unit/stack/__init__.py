"""Unit tests of the stack's configuration (no service runs)."""

from __future__ import annotations

from pathlib import Path

from include.patternalarm.settings import Settings


def settings_with_secrets(tmp_path: Path, **kwargs: object) -> Settings:
    """Settings under ``tmp_path`` with every secret set (what ``stack up`` generates), so config builders run."""
    secrets = {name: "x" for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)}
    return Settings(data_dir=tmp_path, **{**secrets, **kwargs})  # type: ignore[arg-type]
