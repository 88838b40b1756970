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
            "recordings/service.py", "cases/access.py", "cases/desk.py", "cases/overdue.py"]
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


# --- the import graph, transitively (issue 15) ------------------------------------------------------------------
# Layers, lowest first: a package imports only packages of a lower layer (or itself); packages of one layer import
# each other only without a circle. Composition (graph, runtime, cli) is the only place that knows every piece.
LAYERS: dict[str, int] = {
    "errors": 0, "events": 0, "bus": 0, "secrets": 0, "privileges": 0, "config": 0,
    "pbx": 1, "queue": 1, "cases": 1, "auth": 1, "ivr": 1, "security": 1, "transcribe": 1, "recordings": 1,
    "sim": 1, "storage": 1, "assist": 1,
    "floor": 2,
    "web": 3,
    "graph": 4, "runtime": 4, "cli": 4,
}
# adapters that hold data: services reach them only through protocols they own
STORE_MODULES = re.compile(r"^(storage(\..*)?|cases\.store|.*_store|cases\.search|recordings\.archive)$")


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def module_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """hotline module -> the hotline modules it imports (anywhere in the file, lazy imports too), and
    module -> the outside top-level packages it imports."""
    modules = {module_name(f): f for f in SRC.rglob("*.py")}
    inner: dict[str, set[str]] = {}
    outer: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        libs: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".") if package else []
                    base = base[:len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                    targets = [f"hotline.{mod}" if mod else "hotline"]
                else:
                    targets = [node.module or ""]
                targets += [f"{targets[0]}.{a.name}" for a in node.names]
            for t in targets:
                if t == "hotline" or t.startswith("hotline."):
                    sub = t.removeprefix("hotline").removeprefix(".")
                    if sub in modules:
                        found.add(sub)
                elif t:
                    libs.add(t.split(".")[0])
        found.discard(name)
        inner[name] = {m for m in found if m}
        outer[name] = libs
    return inner, outer


def closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def top(module: str) -> str:
    return module.split(".")[0]


def test_every_package_has_a_layer() -> None:
    packages = {top(m) for m in module_graph()[0] if m}
    assert packages - set(LAYERS) == set(), "give the new package a layer in LAYERS"


def test_no_import_runs_back_up_the_layers() -> None:
    inner, _ = module_graph()
    up = sorted(f"{m} -> {t}" for m, ts in inner.items() if m for t in ts
                if LAYERS[top(t)] > LAYERS[top(m)])
    assert up == []


def test_no_circle_between_packages() -> None:
    inner, _ = module_graph()
    packages: dict[str, set[str]] = {}
    for m, ts in inner.items():
        if m:
            packages.setdefault(top(m), set()).update(top(t) for t in ts if top(t) != top(m))
    circles = sorted({" <-> ".join(sorted((p, q))) for p in packages for q in closure(packages, p)
                      if q != p and p in closure(packages, q)})
    assert circles == []


def test_services_reach_neither_a_store_nor_a_driver_even_through_other_modules() -> None:
    """Transitively: what a service imports, and what that imports, never includes a store module or a module
    that imports aiohttp, panoramisk, sqlite_utils, vosk, pydub or pjsua2."""
    inner, outer = module_graph()
    services = set()
    for entry in SERVICES:
        p = SRC / entry
        services |= {module_name(f) for f in (sorted(p.rglob("*.py")) if p.is_dir() else [p])}
    bad = {}
    for s in sorted(services):
        reach = closure(inner, s)
        stores = sorted(m for m in reach if STORE_MODULES.match(m))
        drivers = sorted(f"{m}:{lib}" for m in reach | {s} for lib in outer[m] & FORBIDDEN)
        if stores or drivers:
            bad[s] = stores + drivers
    assert bad == {}


def test_the_checks_see_a_transitive_import() -> None:
    """The graph follows imports through other modules (a positive control for the tests above)."""
    inner, _ = module_graph()
    assert "web.hub" in inner["web.app"] or "web.hub" in closure(inner, "web.app")
    assert any(STORE_MODULES.match(m) for m in closure(inner, "runtime"))
