"""`cityhelix serve` and `cityhelix demo`: the HTTP API (and the demo province) in one process."""

from __future__ import annotations

import asyncio
import gc
from typing import Annotated

import typer
from rich.console import Console

from cityhelix.settings import get_settings

console = Console()


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the HTTP API (migrating the database first when needed)."""
    import uvicorn

    from cityhelix.app import create_app
    from cityhelix.events.broker import embedded_port_taken

    settings = get_settings()
    if (taken := embedded_port_taken(settings)) is not None:
        typer.echo(taken, err=True)
        raise typer.Exit(1)
    server_app = create_app(settings)
    _tune_gc()
    # open consoles keep event streams open: bound how long a stop waits for them
    uvicorn.run(server_app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)


def _tune_gc() -> None:
    """Collect cyclic garbage every 50,000 allocations instead of CPython's 700.

    A server under the firehose allocates millions of short-lived objects a second, nearly
    all freed by reference counting; at the default threshold the cycle collector ran some
    200 times a second and took 8 % of the hub's CPU, with the objects of start-up (frozen
    here) rescanned each time. Measured: MQTT DataArray readings at 4,000/s, p99 975 ms ->
    271 ms and 0.83 -> 0.70 cores (BENCHMARKS.md section 3).
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def demo(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    seed: Annotated[int, typer.Option(help="Seed of the demo province.")] = 7,
    interval: Annotated[float, typer.Option(help="Seconds between simulated readings.")] = 5.0,
) -> None:
    """Serve a live demo province: load it on first start, then simulate fresh readings."""
    from cityhelix.demo.run import run_demo

    _tune_gc()
    try:
        asyncio.run(run_demo(get_settings(), host=host, port=port, seed=seed, interval_s=interval))
    except KeyboardInterrupt:
        console.print("demo stopped")
