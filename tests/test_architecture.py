"""The direction of dependencies: services never import the adapters' libraries."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src/hotline"
SERVICES = ["ivr", "queue", "security", "cases/service.py", "cases/form.py", "events.py", "bus.py", "config.py",
            "transcribe/engine.py", "transcribe/models.py", "transcribe/pipeline.py", "agent_desktop/desktop.py",
            "manager/board.py", "manager/supervision.py", "manager/wallboard.py", "conference",
            "cases/workflow.py", "cases/deadlines.py", "cases/callback.py", "cases/text_index.py", "cases/trends.py",
            "recordings/service.py", "cases/access.py"]
FORBIDDEN = {"aiohttp", "panoramisk", "sqlite_utils", "vosk", "pydub", "pjsua2"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_services_do_not_import_adapter_libraries() -> None:
    files = []
    for entry in SERVICES:
        p = SRC / entry
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    bad = {str(f.relative_to(SRC)): sorted(imports(f) & FORBIDDEN) for f in files if imports(f) & FORBIDDEN}
    assert bad == {}


def test_panoramisk_is_imported_only_by_pbx() -> None:
    users = [str(f.relative_to(SRC)) for f in SRC.rglob("*.py") if "panoramisk" in imports(f)]
    assert users and all(u.startswith("pbx/") for u in users), users
