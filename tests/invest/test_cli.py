"""`cityhelix invest load-demo` through Typer's runner, on each backend."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from cityhelix.invest.cli import invest_app
from tests.conftest import Backend


def test_load_demo_loads_once(backend: Backend, engine: AsyncEngine) -> None:
    runner = CliRunner()
    env = {"CITYHELIX_DATABASE_URL": backend.url}
    first = runner.invoke(invest_app, ["load-demo"], env=env)
    assert first.exit_code == 0, first.output
    assert "loaded 28 parks" in first.output and "4053 synthetic projects" in first.output
    again = runner.invoke(invest_app, ["load-demo"], env=env)
    assert again.exit_code == 0
    assert "nothing loaded" in again.output
