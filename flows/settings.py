"""Settings: a TOML file overridden by environment variables, read once at the edge.

File: `$GAMMALAKE_HOME/gammalake.toml`, or `--config PATH`. Every key can be overridden by an
environment variable `GAMMALAKE_<KEY>` (upper case; lists comma-separated).

Secrets are never settings: they are read when a run needs them, so they never travel in a
Settings value (a Prefect flow run's parameters carry the whole Settings, and Prefect stores
and shows them). The FlashAlpha key comes from `FLASHALPHA_API_KEY`, or from the Prefect
Secret block named by `flashalpha_secret_block`; the Apprise URL of alert messages (it may hold
a token) from `GAMMALAKE_APPRISE_URL`, or from the Secret block named by
`apprise_secret_block`. Neither may be written in the settings file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from flows.alerts import DEFAULT_RULES, AlertRules
from pipeline.errors import InputError
from warehouse.home import Layout, resolve_home

if TYPE_CHECKING:
    from pipeline.sources.synthetic import SyntheticMarket

CONFIG_FILE = Layout(Path()).settings.name
KEY_VARIABLE = "FLASHALPHA_API_KEY"
APPRISE_VARIABLE = "GAMMALAKE_APPRISE_URL"
#: Settings-file keys that would hold a secret, and where the secret goes instead.
SECRET_KEYS = {
    "apprise_url": f"set {APPRISE_VARIABLE} or name a Prefect Secret block in apprise_secret_block",
}


@dataclass(frozen=True)
class Settings:
    """Everything a flow needs to know, with defaults that work with no file at all."""

    home: Path
    watchlist: tuple[str, ...] = ("SPY", "QQQ", "IWM")
    source: str = "synthetic"
    preset: str = "default"
    chains_dir: Path | None = None
    flashalpha_tier: str = "free"
    flashalpha_base_url: str = "https://lab.flashalpha.com"
    flashalpha_historical_url: str = "https://historical.flashalpha.com"
    flashalpha_secret_block: str | None = None
    synthetic_expiries: int = 24
    synthetic_strikes: int = 81
    synthetic_gamma_vol_ratio: float = 1.6
    wall_alert_pct: float = DEFAULT_RULES.wall_pct
    wall_move_pct: float = DEFAULT_RULES.wall_move_pct
    apprise_secret_block: str | None = None
    task_runner: str = "threads"
    max_workers: int = 2
    dask_address: str | None = None
    intraday_minutes: int | None = None
    snapshot_delay_minutes: int = 15
    task_retries: int = 2
    fetch_concurrency: int = 4
    request_deadline_seconds: float = 60.0
    cboe_url: str | None = None
    cboe_user_agent: str | None = None
    cboe_window: float = 300.0
    cboe_window_limit: int = 60

    def market(self) -> SyntheticMarket:
        """Return the synthetic market these settings describe (its planted effect included)."""
        from pipeline.sources.synthetic import SyntheticMarket

        return SyntheticMarket(gamma_vol_ratio=self.synthetic_gamma_vol_ratio)

    def alert_rules(self) -> AlertRules:
        """Return when wall alerts fire: the near-wall band and the wall-move threshold (%)."""
        return AlertRules(wall_pct=self.wall_alert_pct, wall_move_pct=self.wall_move_pct)

    def api_key(self) -> str | None:
        """Return the FlashAlpha key from the environment or the Prefect Secret block."""
        return _secret(KEY_VARIABLE, self.flashalpha_secret_block)

    @property
    def apprise_url(self) -> str | None:
        """Return the Apprise URL for alert messages, read now: environment, then Secret block.

        A property, not a field: the URL may hold a token, and fields travel in parameters.
        """
        return _secret(APPRISE_VARIABLE, self.apprise_secret_block)


def _secret(variable: str, block_name: str | None) -> str | None:
    """Return the secret in environment `variable`, else in the Prefect Secret `block_name`."""
    value = os.environ.get(variable)
    if value or not block_name:
        return value or None
    from prefect.blocks.system import Secret

    # Secret.load is sync here (no event loop runs); its stub also admits a coroutine.
    block = cast(Secret, Secret.load(block_name))
    return str(block.get())


def _coerce(value: Any, kind: Any) -> Any:
    """Return a file or environment value converted to the field's type."""
    text = str(kind)
    if "tuple" in text:
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(str(i).strip().upper() for i in items if str(i).strip())
    if "Path" in text:
        return None if value in ("", None) else Path(str(value)).expanduser()
    if "int" in text and "float" not in text:
        return None if value in ("", None) else int(value)
    if "float" in text:
        return float(value)
    return None if value == "" else str(value)


def load_settings(
    home: Path | None = None,
    config: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Return settings from defaults, then the TOML file, then GAMMALAKE_* variables."""
    env = os.environ if environ is None else environ
    settings = Settings(home=resolve_home(home))
    path = config or settings.home / CONFIG_FILE
    values: dict[str, Any] = {}
    if config is not None and not path.is_file():
        raise InputError(f"{path}: no such settings file")
    if path.is_file():
        try:
            values = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{path}: not valid TOML: {exc}") from None
        _refuse_secrets(path, values)
    known = {f.name: f.type for f in fields(Settings) if f.name != "home"}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InputError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    for name, kind in known.items():
        variable = f"GAMMALAKE_{name.upper()}"
        if variable in env:
            values[name] = env[variable]
        if name in values:
            try:
                values[name] = _coerce(values[name], kind)
            except ValueError:
                raise InputError(
                    f"setting {name}: {values[name]!r} is not a valid {kind}"
                ) from None
    return checked(replace(settings, **{k: v for k, v in values.items() if k in known}), path)


TASK_RUNNERS = ("threads", "dask")


def _refuse_secrets(path: Path, values: Mapping[str, Any]) -> None:
    """Refuse a settings file that holds an API key or another secret (InputError)."""
    if any(k.split("_")[-1] == "key" or "api_key" in k for k in values):
        raise InputError(
            f"{path}: API keys do not belong in the settings file; set "
            f"{KEY_VARIABLE} or name a Prefect Secret block"
        )
    for name, instead in SECRET_KEYS.items():
        if name in values:
            raise InputError(
                f"{path}: {name} may hold a token and does not belong in the settings file; "
                f"{instead}"
            )


def checked(settings: Settings, path: Path) -> Settings:
    """Return `settings` with folders made absolute; refuse values no run could use.

    Folders are absolute because units of work may run in other processes (Dask workers)
    whose working directory is not ours.
    """
    if settings.task_runner not in TASK_RUNNERS:
        raise InputError(
            f"setting task_runner: {settings.task_runner!r} is unknown "
            f"(known: {', '.join(TASK_RUNNERS)}; from {path} or GAMMALAKE_TASK_RUNNER)"
        )
    if settings.max_workers < 1:
        raise InputError(f"setting max_workers: {settings.max_workers} must be at least 1")
    settings.alert_rules()  # refuses a negative or non-finite threshold, naming the setting
    if settings.chains_dir is not None:
        settings = replace(settings, chains_dir=Path(os.path.abspath(settings.chains_dir)))
    return settings


def example_toml() -> str:
    """Return a commented settings file with every key at its default."""
    lines = ["# gammalake settings; every key can be overridden by GAMMALAKE_<KEY>."]
    defaults = Settings(home=Path("."))
    for f in fields(Settings):
        if f.name == "home":
            continue
        value = getattr(defaults, f.name)
        if value is None:
            lines.append(f"# {f.name} = ")
        elif isinstance(value, tuple):
            lines.append(f"{f.name} = {list(value)!r}".replace("'", '"'))
        elif isinstance(value, str):
            lines.append(f'{f.name} = "{value}"')
        else:
            lines.append(f"{f.name} = {value}")
    return "\n".join(lines) + "\n"
