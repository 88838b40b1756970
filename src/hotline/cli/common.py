"""What every command shares: the site file it reads, the logger, a figure printed as "-" when
there is none."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from hotline import config

log = logging.getLogger("hotline")

DEFAULT_SITE = "etc/site.example.toml"


def load_settings(args: argparse.Namespace) -> config.Settings:
    return config.load(Path(args.site))


def fmt(v: Any) -> str:
    return "-" if v is None else f"{v}"
