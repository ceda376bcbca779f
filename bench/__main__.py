"""``python -m bench [--only NAME ...] [--quick] [--out DIR]``: run the benchmarks.

Each benchmark's result is printed as a table and written to ``<out>/<NAME>.json``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.table import Table

import bench
from bench.common import OUT_DIR, Context, describe_machine, machine_line, write_json

NOT_BENCHMARKS = {"common", "__main__"}


def discover() -> dict[str, ModuleType]:
    """Every benchmark module of the package, by its NAME."""
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if info.ispkg or info.name in NOT_BENCHMARKS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "run", None)) and isinstance(
            getattr(module, "NAME", None), str
        ):
            found[module.NAME] = module
    return found


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(name: str, result: dict[str, Any], console: Console) -> None:
    """A table of ``result["cases"]`` (one row per case, one column per key seen)."""
    cases = result.get("cases") or []
    table = Table(title=f"bench: {name}", title_justify="left")
    columns: list[str] = []
    for case in cases:
        for key in case:
            if key not in columns:
                columns.append(key)
    for column in columns:
        table.add_column(column, justify="left" if column == "case" else "right")
    for case in cases:
        table.add_row(*(_cell(case.get(column)) for column in columns))
    console.print(table)
    if result.get("machine"):
        console.print(f"machine: {result['machine']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this benchmark")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where the JSON files go")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    console = Console()
    found = discover()
    if args.list:
        for name in found:
            console.print(name)
        return 0
    wanted = args.only or list(found)
    unknown = [name for name in wanted if name not in found]
    if unknown:
        console.print(f"[red]unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(found)}")
        return 2

    ctx = Context(quick=args.quick, out_dir=args.out)
    ctx.machine = machine_line(describe_machine(ctx.pg_url))
    console.print(f"machine: {ctx.machine}" + ("  [quick run]" if args.quick else ""))
    for name in wanted:
        module = found[name]
        console.rule(name)
        started = time.perf_counter()
        result = module.run(ctx)
        path = write_json(name, result, ctx.out_dir)
        render(name, result, console)
        summary = getattr(module, "summary", None)
        if summary is not None:
            for line in summary(result):
                console.print(line)
        console.print(f"{name}: {time.perf_counter() - started:.1f} s, wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
