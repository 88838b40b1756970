"""Generated secrets (AMI secret, API token, SIP passwords not in the site file).

Kept in ``<state_dir>/secrets.json``, mode 0600, created on first use; nothing secret is
ever in the repository or the example site file.
"""

from __future__ import annotations

import json
import os
import secrets as _random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hotline.config import Settings
from hotline.errors import HotlineError


class SecretsError(HotlineError, RuntimeError):
    error_id = "secrets-invalid"
    status = 503  # the site's secrets file, not the caller


class SecretsMissing(SecretsError):
    error_id = "secrets-missing"


@dataclass(frozen=True)
class Secrets:
    ami_secret: str
    api_token: str
    sip_passwords: dict[str, str]
    metrics_token: str = ""  # Prometheus' bearer token for /metrics (the metrics role only)
    asterisk_metrics_password: str = ""  # res_prometheus' basic auth (user prometheus), [asterisk] metrics_port


def _read(path: Path) -> dict[str, object]:
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)) as fh:  # never through a link
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise SecretsError(f"{path} is unreadable or not JSON ({exc}); fix it or move it away "
                           "to have new secrets generated (SIP phones then need the new passwords)") from None
    if not isinstance(data, dict):
        raise SecretsError(f"{path} must hold a JSON object")
    return data


def api_token(settings: Settings) -> str:
    """The service token, read only: the commands that merely ask the running service (agents,
    queues, ...) never create secrets. No file yet means the service has never run."""
    path = settings.state_dir / "secrets.json"
    if not path.exists():
        raise SecretsMissing(f"{path} does not exist: the service has not run yet (`hotline run` creates it)")
    token = _read(path).get("api_token")
    if not isinstance(token, str) or not token:
        raise SecretsMissing(f"{path} holds no api_token: `hotline run` adds one")
    return token


def load_or_create(settings: Settings) -> Secrets:
    path = settings.state_dir / "secrets.json"
    data: dict[str, object] = _read(path) if path.exists() else {}
    changed = False
    for key in ("ami_secret", "api_token", "metrics_token", "asterisk_metrics_password"):
        if not data.get(key):
            data[key] = _random.token_urlsafe(24)
            changed = True
    sip = dict(data.get("sip_passwords", {}))  # type: ignore[call-overload]
    for op in settings.phones:
        if op.password is None and op.extension not in sip:
            sip[op.extension] = _random.token_urlsafe(12)
            changed = True
    data["sip_passwords"] = sip
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a new file (O_EXCL: never through a link the run user planted in its state dir), renamed over
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secrets.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                os.fchmod(fh.fileno(), 0o600)
                json.dump(data, fh, indent=2)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    passwords = {op.extension: op.password or str(sip[op.extension]) for op in settings.phones}
    return Secrets(str(data["ami_secret"]), str(data["api_token"]), passwords, str(data["metrics_token"]),
                   str(data["asterisk_metrics_password"]))
