"""Generated secrets (AMI secret, API token, SIP passwords not in the site file).

Kept in ``<state_dir>/secrets.json``, mode 0600, created on first use; nothing secret is
ever in the repository or the example site file.
"""

from __future__ import annotations

import json
import os
import secrets as _random
from dataclasses import dataclass

from hotline.config import Settings
from hotline.errors import HotlineError


class SecretsError(HotlineError, RuntimeError):
    error_id = "secrets-invalid"
    status = 503  # the site's secrets file, not the caller


@dataclass(frozen=True)
class Secrets:
    ami_secret: str
    api_token: str
    sip_passwords: dict[str, str]


def load_or_create(settings: Settings) -> Secrets:
    path = settings.state_dir / "secrets.json"
    data: dict[str, object] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SecretsError(f"{path} is unreadable or not JSON ({exc}); fix it or move it away "
                               "to have new secrets generated (SIP phones then need the new passwords)") from None
        if not isinstance(data, dict):
            raise SecretsError(f"{path} must hold a JSON object")
    changed = False
    for key in ("ami_secret", "api_token"):
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
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    passwords = {op.extension: op.password or str(sip[op.extension]) for op in settings.phones}
    return Secrets(str(data["ami_secret"]), str(data["api_token"]), passwords)
