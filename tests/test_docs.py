"""Docs are tested: every CLI command and every setting is documented."""

import argparse
from dataclasses import fields
from pathlib import Path

from hotline import config
from hotline.cli import parser

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_cli_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    p = parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, sp in sub.choices.items():
        actions = [a for a in sp._actions if a.dest == "action" and a.choices]
        names = [f"hotline {name} {c}" for c in actions[0].choices] if actions else [f"hotline {name}"]
        missing += [n for n in names if f"`{n}" not in text]
    assert missing == []


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    keys = {"number", "state_dir", "database"}
    for cls in (config.Language, config.Topic, config.Operator, config.Routing, config.AsteriskSettings,
                config.HotspotDay, config.HttpSettings, config.User, config.Transcription,
                config.RotaEntry, config.SupervisorPhone, config.Alerts,
                config.Interpreter, config.Interpreting, config.Department, config.DispatchRule,
                config.Deadlines, config.Callback, config.Recordings, config.Trends, config.SipSecurity,
                config.Ivr):
        keys |= {f.name for f in fields(cls)}
    assert sorted(k for k in keys if f"`{k}`" not in text) == []
