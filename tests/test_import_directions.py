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
PILLARS = (
    "cityhelix.hub",
    "cityhelix.ops",
    "cityhelix.invest",
    "cityhelix.helix",
    "cityhelix.web",
)
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


def test_helix_reaches_other_pillars_only_through_their_service_modules() -> None:
    """The scorecard reads the hub, the investment registry and (later) the operations
    centre: through their doors (`<pillar>.service`), never their tables or adapters."""
    helix = PACKAGE / "helix"
    others = tuple(p for p in PILLARS if p != "cityhelix.helix")
    for path in helix.rglob("*.py"):
        for name in _imports(path):
            pillar = next((p for p in others if _under(name, (p,))), None)
            # `from cityhelix.hub import service` names the package itself too
            if pillar is not None and name != pillar:
                assert _under(name, (f"{pillar}.service",)), (
                    f"helix/{path.relative_to(helix)} imports {name}"
                )
