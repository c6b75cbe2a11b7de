"""Whether a Prefect API is configured, read without importing Prefect (which takes ~1 s).

A command runs its flow through Prefect only when an API is configured: `PREFECT_API_URL` in
the environment, or in the active profile of Prefect's profiles file (what `prefect config set
PREFECT_API_URL=...` writes). Otherwise the flow body runs directly and no temporary Prefect
server is started.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

API_VARIABLE = "PREFECT_API_URL"


def profiles_file(environ: Mapping[str, str]) -> Path:
    """Return Prefect's profiles file: $PREFECT_PROFILES_PATH, else $PREFECT_HOME/profiles.toml."""
    explicit = environ.get("PREFECT_PROFILES_PATH")
    if explicit:
        return Path(explicit).expanduser()
    home = environ.get("PREFECT_HOME") or str(Path.home() / ".prefect")
    return Path(home).expanduser() / "profiles.toml"


def configured_api_url(environ: Mapping[str, str] | None = None) -> str | None:
    """Return the Prefect API URL the user configured, or None (no server to report to)."""
    env = os.environ if environ is None else environ
    if env.get(API_VARIABLE):
        return env[API_VARIABLE]
    try:
        profiles = tomllib.loads(profiles_file(env).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None  # no profiles file, or one Prefect itself would refuse: nothing configured
    active = env.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    profile = profiles.get("profiles", {}).get(active, {})
    url = profile.get(API_VARIABLE) if isinstance(profile, dict) else None
    return str(url) if url else None
