"""The direction of dependencies: services never import the adapters' libraries."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src/hotline"
SERVICES = ["ivr", "queue", "security", "cases/service.py", "cases/form.py", "events.py", "bus.py", "config",
            "transcribe/engine.py", "transcribe/models.py", "transcribe/pipeline.py",
            "floor",
            "cases/workflow.py", "cases/deadlines.py", "cases/callback.py", "cases/text_index.py", "cases/trends.py",
            "recordings/service.py", "cases/access.py", "cases/desk.py"]
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



def test_the_error_base_imports_nothing_of_the_hotline_or_the_web() -> None:
    """hotline/errors.py is imported by services, stores, the PBX layer and the web alike."""
    found = imports(SRC / "errors.py") - {"__future__"}
    assert found <= set(sys.stdlib_module_names), found

def test_the_product_does_not_import_the_test_support() -> None:
    """The test phones (pjsua2) and the test stack live in tests/support, not in the package:
    no product module imports them, nor pjsua2, nor anything of tests/."""
    bad = {str(f.relative_to(SRC)): sorted(imports(f) & {"support", "tests", "pjsua2", "pytest"})
           for f in SRC.rglob("*.py") if imports(f) & {"support", "tests", "pjsua2", "pytest"}}
    assert bad == {}
    assert not [p.name for p in (SRC / "sim").glob("*.py") if p.stem in ("phones", "phone_process", "stack")]


def test_the_unit_tier_collects_without_pjsua2(tmp_path: Path) -> None:
    """`pytest -m "not asterisk" --collect-only` in a child whose pjsua2 fails to import (a module
    of that name first on its path): the unit tier needs no SIP library, pjsua2 is imported only
    by the phones' child processes the e2e fixtures start."""
    (tmp_path / "pjsua2.py").write_text("raise ImportError('pjsua2 imported while collecting the unit tier')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("HOTLINE_IN_NETNS", None)
    root = SRC.parents[1]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not asterisk", "--collect-only",
                           "-p", "no:cacheprovider", str(root / "tests")],
                          check=False, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"\d+/\d+ tests collected|\d+ tests collected", proc.stdout), proc.stdout[-2000:]


# where a module outside hotline.config may touch the process environment, and why
ENVIRONMENT_ALLOWED = {
    ("privileges.py", "drop"): "sets HOME, USER and LOGNAME for the user it drops to: the programs the service "
                               "starts (Asterisk, ffmpeg) read them from the environment",
}


def environment_uses(source: str) -> list[str]:
    """The functions (or "<module>") that touch os.environ / os.getenv / os.putenv / os.environb."""
    names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    found = []

    def walk(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else scope
            if (isinstance(child, ast.Attribute) and child.attr in names and isinstance(child.value, ast.Name)
                    and child.value.id == "os") or (isinstance(child, ast.ImportFrom) and child.module == "os"
                                                    and any(a.name in names for a in child.names)):
                found.append(scope)
            walk(child, inner)

    walk(ast.parse(source), "<module>")
    return found


def test_only_the_configuration_reads_the_environment() -> None:
    """Settings come from the site file and the HOTLINE_* variables parsed in hotline.config
    (docs/configuration.md, "The environment"); no other module reads os.environ."""
    assert environment_uses("import os\ndef f():\n    return os.environ.get('X')\n") == ["f"]
    assert environment_uses("from os import getenv\n") == ["<module>"]
    found = {(str(f.relative_to(SRC)), scope) for f in SRC.rglob("*.py") if f.relative_to(SRC).parts[0] != "config"
             for scope in environment_uses(f.read_text())}
    assert found - set(ENVIRONMENT_ALLOWED) == set()
    assert environment_uses((SRC / "config/environment.py").read_text()), "the environment is read in config"
