"""The PBX: where Asterisk lives and listens, and the SIP guard in front of it."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hotline.config.base import CODE, ConfigError, path, section, str_list

# the Asterisk configuration templates of this checkout (asterisk.templates overrides)
TEMPLATES = Path(__file__).resolve().parents[3] / "asterisk_conf"


@dataclass(frozen=True)
class AsteriskSettings:
    root: Path = Path("var/asterisk/root")
    instance: str = "main"
    suite: str = "sid"
    mirror: str = "http://deb.debian.org/debian"
    bind: str = "127.0.0.1"
    sip_port: int = 5060
    rtp_start: int = 20000
    rtp_end: int = 20999
    ami_port: int = 5038
    agi_port: int = 4573
    prompts_override: Path = Path("prompts")
    # the system user Asterisk and the service run as when started as root (root only installs,
    # renders and starts); "" keeps the user they were started as
    user: str = "hotline"
    bind_guard: bool = True  # Asterisk binds no UDP socket to 0.0.0.0 or [::] (pbx/bindguard.c)
    templates: Path = TEMPLATES  # the folder of *.conf.j2 rendered into the instance
    ami_trace: str = ""  # a file the raw AMI stream is appended to (debugging, recording test data); "" off
    # Asterisk's own Prometheus metrics (res_prometheus on its HTTP server, 127.0.0.1 only, basic
    # auth with a generated password); 0: neither the HTTP server nor the module runs
    metrics_port: int = 0

    @property
    def instance_dir_in_chroot(self) -> str:
        return f"/hotline/{self.instance}"

    @property
    def instance_dir(self) -> Path:
        return self.root / "hotline" / self.instance


@dataclass(frozen=True)
class SipSecurity:
    """The SIP guard (docs/security.md, "SIP"): a source address with ``max_failures`` failed
    logins within ``window_seconds`` is refused by Asterisk (403 to every request) for
    ``block_minutes``; addresses in ``trusted_networks`` (the operators' own subnets) are never
    blocked. The citizens' trunk: at most ``calls_per_source`` calls per source address in any
    ``calls_window_seconds`` and ``concurrent_per_source`` at once (0: no limit). Calls from a
    ``carrier_sources`` address (a carrier or SBC relaying many citizens' calls) are limited per
    caller number instead of per address."""

    enabled: bool = True
    max_failures: int = 5
    window_seconds: float = 60.0
    block_minutes: float = 15.0
    trusted_networks: tuple[str, ...] = ()
    calls_per_source: int = 10
    calls_window_seconds: float = 10.0
    concurrent_per_source: int = 20
    carrier_sources: tuple[str, ...] = ()
    # a carrier's calls with no caller number (withheld) all share one key: their own, higher limits
    anonymous_calls_per_window: int = 100  # per calls_window_seconds (0: no limit)
    anonymous_concurrent: int = 200  # at once (0: no limit)
    alert_minutes: float = 10.0  # a refused flood stays on the wallboard this long


def parse_asterisk(data: Mapping[str, Any]) -> AsteriskSettings:
    """The section as written; :func:`place_asterisk` resolves its folders once state_dir is known."""
    asterisk: AsteriskSettings = section(AsteriskSettings, data.get("asterisk", {}), "asterisk")
    if not CODE.match(asterisk.instance):
        raise ConfigError("asterisk.instance", f"must be a short lowercase name, got {asterisk.instance!r}")
    if asterisk.user and (asterisk.user == "root" or not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", asterisk.user)):
        raise ConfigError("asterisk.user", f"must be a system user name other than root, got {asterisk.user!r}")
    for key in ("sip_port", "ami_port", "agi_port"):
        port = getattr(asterisk, key)
        if not 1 <= port <= 65535:
            raise ConfigError(f"asterisk.{key}", f"not a port: {port}")
    if not 0 <= asterisk.metrics_port <= 65535:
        raise ConfigError("asterisk.metrics_port", f"not a port (0: off): {asterisk.metrics_port}")
    if asterisk.metrics_port and asterisk.metrics_port in (asterisk.ami_port, asterisk.agi_port):
        raise ConfigError("asterisk.metrics_port", f"{asterisk.metrics_port} is already the AMI's or FastAGI's port")
    return asterisk


def place_asterisk(asterisk: AsteriskSettings, data: Mapping[str, Any], base: Path,
                   state_dir: Path) -> AsteriskSettings:
    """Folders relative to the site file; the chroot and prompts default to under state_dir."""
    raw = data.get("asterisk", {})
    return replace(
        asterisk,
        root=path(base, raw["root"]) if "root" in raw else state_dir / "asterisk" / "root",
        prompts_override=(path(base, raw["prompts_override"]) if "prompts_override" in raw
                          else state_dir / "prompts"),
        templates=path(base, raw["templates"]) if "templates" in raw else TEMPLATES,
        ami_trace=str(path(base, raw["ami_trace"])) if raw.get("ami_trace") else "",
    )


def parse_sip_security(data: Mapping[str, Any]) -> SipSecurity:
    raw = dict(data.get("sip_security", {}))
    nets: dict[str, tuple[str, ...]] = {}
    for key in ("trusted_networks", "carrier_sources"):
        items = str_list(raw, key, "sip_security.")
        raw.pop(key, None)
        for item in items:
            try:  # carriers are single addresses: the dialplan compares them as text
                ipaddress.ip_network(item, strict=False) if key == "trusted_networks" else ipaddress.ip_address(item)
            except ValueError:
                kind = "an address or network" if key == "trusted_networks" else "an IP address"
                raise ConfigError(f"sip_security.{key}", f"not {kind}: {item!r}") from None
        nets[key] = items if key == "trusted_networks" else tuple(str(ipaddress.ip_address(i)) for i in items)
    s: SipSecurity = replace(section(SipSecurity, raw, "sip_security"), **nets)
    if not 1 <= s.max_failures <= 1000 or s.window_seconds <= 0 or s.block_minutes <= 0:
        raise ConfigError("sip_security", "max_failures must be 1-1000, window_seconds and block_minutes > 0")
    if (s.calls_per_source < 0 or s.calls_window_seconds <= 0 or s.concurrent_per_source < 0 or s.alert_minutes <= 0
            or s.anonymous_calls_per_window < 0 or s.anonymous_concurrent < 0):
        raise ConfigError("sip_security", "calls_per_source, concurrent_per_source, anonymous_calls_per_window and "
                          "anonymous_concurrent must be >= 0 (0: no limit), calls_window_seconds and alert_minutes > 0")
    return s


def carriers_outside_trusted(s: SipSecurity) -> list[str]:
    """Carrier sources not in trusted_networks: the SIP guard never blocks them either, but a
    site whose carrier is not also trusted has probably mistyped one of the two."""
    nets = [ipaddress.ip_network(n, strict=False) for n in s.trusted_networks]
    return [c for c in s.carrier_sources if not any(ipaddress.ip_address(c) in n for n in nets
                                                   if n.version == ipaddress.ip_address(c).version)]
