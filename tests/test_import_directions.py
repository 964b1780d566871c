"""The import directions of docs/architecture.md, checked on the source: the ground imports
no pillar, and nothing of the hub below its protocol adapters imports a web framework or
an adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import cityhelix

PACKAGE = Path(cityhelix.__file__).parent
#: the composition and the contract: the only ground modules that may name pillars
COMPOSITION = {"app.py", "pillars.py", "pillar.py", "cli", "demo"}
PILLARS = ("cityhelix.hub", "cityhelix.ops")
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


def test_the_hub_below_its_adapters_imports_no_adapter_and_no_web_framework() -> None:
    hub = PACKAGE / "hub"
    below = [
        path
        for path in hub.rglob("*.py")
        if path.relative_to(hub).parts[0] not in ("http", "mqtt", "cli.py", "pillar.py")
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
