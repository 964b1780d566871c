"""The import directions of docs/architecture.md, checked on the source: the ground imports
no pillar, a pillar reaches another only through its `service` module, and nothing of the
hub below its protocol adapters imports a web framework or an adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import cityhelix
from cityhelix.pillars import PILLAR_PACKAGES

PACKAGE = Path(cityhelix.__file__).parent
#: the composition and the contract: the only ground modules that may name pillars
COMPOSITION = {"app.py", "pillars.py", "pillar.py", "cli", "demo"}
#: the composed pillars, and any package with a `pillar.py` not composed yet
PILLARS = tuple(
    sorted(
        set(PILLAR_PACKAGES)
        | {f"cityhelix.{path.parent.name}" for path in PACKAGE.glob("*/pillar.py")}
    )
)
#: imports of another pillar's insides known to break the rule, as (module, imported name),
#: each named with the reason; empty today. A new one fails the test until it is fixed or
#: listed here with its reason.
KNOWN_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()
ADAPTERS = ("cityhelix.hub.http", "cityhelix.hub.mqtt", "cityhelix.hub.cli")
WEB = ("fastapi", "starlette")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _targets(path: Path) -> set[str]:
    """The modules or names `path` imports, each as one dotted name: `from a.b import c`
    is `a.b.c` (a module or a name of `a.b`), `import a.b` is `a.b`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _pillar_of(name: str) -> str | None:
    return next((p for p in PILLARS if _under(name, (p,))), None)


def _module(path: Path) -> str:
    return ".".join(("cityhelix", *path.relative_to(PACKAGE).with_suffix("").parts))


def _cross_pillar_imports() -> list[tuple[str, str]]:
    """(module, imported name) for each import of another pillar's insides by a pillar."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module(path)
        own = _pillar_of(module)
        if own is None:
            continue
        for name in sorted(_targets(path)):
            other = _pillar_of(name)
            if other is None or other == own or _under(name, (f"{other}.service",)):
                continue
            found.append((module, name))
    return found


def test_the_ground_imports_no_pillar() -> None:
    ground = [
        path
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] not in COMPOSITION
        and not _under("cityhelix." + path.relative_to(PACKAGE).parts[0], PILLARS)
    ]
    assert any(path.parent.name == "db" for path in ground)
    for path in ground:
        wrong = sorted(n for n in _imports(path) if _under(n, PILLARS))
        assert not wrong, f"{path.relative_to(PACKAGE)} imports {wrong}"


def test_the_pillars_are_found() -> None:
    assert {"cityhelix.hub", "cityhelix.web", "cityhelix.ops", "cityhelix.invest"} <= set(PILLARS)


def test_a_pillar_imports_another_pillar_only_through_its_service_module() -> None:
    found = _cross_pillar_imports()
    wrong = [pair for pair in found if pair not in KNOWN_EXCEPTIONS]
    assert not wrong, "imports of another pillar's insides (use its service module):\n" + "\n".join(
        f"{module} imports {name}" for module, name in wrong
    )
    gone = sorted(KNOWN_EXCEPTIONS - set(found))
    assert not gone, f"listed as exceptions but no longer imported, remove them: {gone}"


def test_the_hub_below_its_adapters_imports_no_adapter_and_no_web_framework() -> None:
    hub = PACKAGE / "hub"
    below = [
        path
        for path in hub.rglob("*.py")
        if path.relative_to(hub).parts[0] not in ("http", "mqtt", "cli.py", "mount.py")
        and "migrations" not in path.relative_to(hub).parts
    ]
    assert any(path.name == "dispatch.py" for path in below)
    for path in below:
        wrong = sorted(n for n in _imports(path) if _under(n, ADAPTERS) or _under(n, WEB))
        assert not wrong, f"hub/{path.relative_to(hub)} imports {wrong}"


#: what the operations centre's alerting may use of the hub: its service and the types
#: of the service's parameters and errors (docs/architecture.md: never the hub's tables)
HUB_DOOR = (
    "cityhelix.hub.service",
    "cityhelix.hub.errors",
    "cityhelix.hub.query.path",
    "cityhelix.hub.query.options",
    "cityhelix.hub.store.read.Page",
)


def test_ops_alerting_reads_the_hub_only_through_its_service() -> None:
    alerting = PACKAGE / "ops" / "alerting"
    modules = list(alerting.rglob("*.py"))
    assert any(path.name == "scope.py" for path in modules)
    for path in modules:
        hub = {n for n in _imports(path) if _under(n, ("cityhelix.hub",))}
        # `from cityhelix.hub import service` names the package and the module
        wrong = sorted(
            n for n in hub if not _under(n, HUB_DOOR) and not any(d.startswith(n) for d in HUB_DOOR)
        )
        assert not wrong, f"ops/alerting/{path.relative_to(alerting)} imports {wrong}"


def test_ops_desk_reads_the_hub_only_through_its_service() -> None:
    ops = list((PACKAGE / "ops" / "desk").rglob("*.py"))
    assert any(path.name == "kpis.py" for path in ops)
    for path in ops:
        wrong = sorted(
            n
            for n in _imports(path)
            if _under(n, ("cityhelix.hub",)) and not _under(n, ("cityhelix.hub.service",))
        )
        assert not wrong, f"{path.relative_to(PACKAGE)} imports {wrong}"
