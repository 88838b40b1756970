"""What every command shares: the site file it reads, the exit codes, the logger, a figure
printed as "-" when there is none."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from hotline import config

log = logging.getLogger("hotline")

# the site file when neither --site nor $HOTLINE_SITE names one: the installed one, else this
# checkout's example (an absolute path, whatever the working directory)
SYSTEM_SITE = Path("/etc/hotline/site.toml")
DEFAULT_SITE = str(Path(__file__).resolve().parents[3] / "etc" / "site.example.toml")

# exit codes (docs/cli.md): 2 is argparse's own for a usage error
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_NOT_RUNNING, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 3, 78, 130


def default_site(system: Path = SYSTEM_SITE) -> str:
    """$HOTLINE_SITE, else /etc/hotline/site.toml when it exists, else the checkout's example."""
    return config.site_file(str(system) if system.exists() else DEFAULT_SITE)


def load_settings(args: argparse.Namespace) -> config.Settings:
    return config.load(Path(args.site))


def fmt(v: Any) -> str:
    return "-" if v is None else f"{v}"
