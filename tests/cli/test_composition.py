"""The `cityhelix` command imports only the group a command line reaches: a pillar's
routers and every other pillar's commands stay unimported (they cost seconds of each
command's start), while `--help` still lists every group."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.served import cli_env

#: runs `python -m cityhelix ARGS`, then writes the names of the modules it imported
RUN_AND_LIST = """
import json, runpy, sys
sys.argv = ["cityhelix", *sys.argv[1:]]
try:
    runpy.run_module("cityhelix", run_name="__main__")
except SystemExit as end:
    code = end.code
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
sys.exit(code)
"""


def _imported(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`cityhelix ARGS` and the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, *args],
        env=cli_env("sqlite+aiosqlite:///unused.db", COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, set(json.loads(done.stderr.splitlines()[-1]))


def test_a_group_imports_neither_routers_nor_other_pillars_commands() -> None:
    done, modules = _imported("users", "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "mosquitto-acl" in done.stdout  # the hub's command, merged into the ground's group
    assert "set-password" in done.stdout
    assert "cityhelix.hub.cli" in modules
    unwanted = sorted(
        m
        for m in modules
        if m == "fastapi"
        or m.endswith(".mount")
        or (
            m.startswith(("cityhelix.invest.", "cityhelix.helix.", "cityhelix.ops."))
            and not m.endswith(".pillar")  # the declarations, which name what they bring
        )
    )
    assert not unwanted


def test_help_lists_every_pillars_groups() -> None:
    done, modules = _imported("--help")
    assert done.returncode == 0, done.stderr[-2000:]
    for group in ("serve", "demo", "migrate", "users", "import", "export", "open311", "invest"):
        assert f" {group} " in done.stdout
    assert "helix" in done.stdout
    assert "cityhelix.invest.cli" in modules
    assert not any(m.endswith(".mount") for m in modules)
