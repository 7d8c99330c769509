# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""PNG plots of the cases that have a shape worth seeing.

Figures are drawn on matplotlib's Agg canvas directly, without pyplot: no
display, no global backend state.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.model import CaseResult

DPI = 110


def _figure(width: float, height: float) -> Figure:
    """An empty figure on an Agg canvas."""
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def large_file(result: CaseResult, path: Path) -> Path:
    """Wall time against file size, one line per tool, every sample as a dot."""
    figure = _figure(7, 4.5)
    axes = figure.add_subplot()
    sizes = result.data["sizes_mib"]
    for label, per_size in result.data["fresh"].items():
        medians = [sorted(samples)[len(samples) // 2] for samples in per_size]
        line = axes.plot(sizes, medians, marker="o", label=label)[0]
        for size, samples in zip(sizes, per_size):
            axes.scatter([size] * len(samples), samples, s=8, alpha=0.35, color=line.get_color())
    axes.set_xscale("log", base=2)
    axes.set_xticks(sizes, [str(size) for size in sizes])
    axes.set_xlabel("file size (MiB)")
    axes.set_ylabel("wall time (s), median and runs")
    axes.set_title("One file to one host, fresh upload")
    axes.grid(True, alpha=0.3)
    axes.legend()
    return _save(figure, path)


def marker_latency(result: CaseResult, path: Path) -> Path:
    """Empirical CDF of the detection latency of both waiters (log time axis)."""
    figure = _figure(7, 4.5)
    axes = figure.add_subplot()
    for key, label in result.data["labels"].items():
        samples = sorted(result.data[key])
        fractions = [(index + 1) / len(samples) for index in range(len(samples))]
        axes.step(samples, fractions, where="post", label=f"{label} (n={len(samples)})")
    axes.axvline(50, color="grey", linestyle="--", linewidth=1, label="target p50 ≤ 50 ms")
    axes.set_xscale("log")
    axes.set_xlabel("rename → waiting module done (ms, host clock)")
    axes.set_ylabel("fraction of trials")
    axes.set_title("Marker detection latency")
    axes.grid(True, alpha=0.3)
    axes.legend()
    return _save(figure, path)


def fleet_scale(result: CaseResult, path: Path) -> Path:
    """Wall time and controller memory against host count, ours and the builtin peer."""
    figure = _figure(10, 4.2)
    wall_axes, memory_axes = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    hosts = result.data["hosts"]
    medians = result.data["medians"]
    for tool, label in (("ours", "lockstep.handoff"), ("peer", "copy → wait_for → mv")):
        wall_axes.plot(hosts, [medians[n][tool]["wall"] for n in hosts], marker="o", label=label)
        memory_axes.plot(hosts, [medians[n][tool]["tree_mib"] for n in hosts], marker="o",
                         label=f"{label}, sum")
        memory_axes.plot(hosts, [medians[n][tool]["max_mib"] for n in hosts], marker="x", linestyle=":",
                         label=f"{label}, largest process")
    wall_axes.set_title("Hand-off wall time")
    wall_axes.set_ylabel("seconds (median)")
    memory_axes.set_title("Controller peak RSS")
    memory_axes.set_ylabel("MiB (median)")
    for axes in (wall_axes, memory_axes):
        axes.set_xlabel("hosts (forks = hosts)")
        axes.set_xticks(hosts)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small")
    return _save(figure, path)


def small_files(result: CaseResult, path: Path) -> Path:
    """Median wall time of the three ways to send a directory, changed and unchanged."""
    figure = _figure(7, 4.2)
    axes = figure.add_subplot()
    medians = result.data["medians"]
    labels = sorted({key.split("/", 1)[1] for key in medians})
    width = 0.38
    for offset, scenario in ((-width / 2, "changed"), (width / 2, "unchanged")):
        positions = [index + offset for index in range(len(labels))]
        axes.bar(positions, [medians[f"{scenario}/{label}"] for label in labels], width, label=scenario)
    axes.set_xticks(range(len(labels)), labels)
    axes.set_ylabel("wall time (s, median)")
    axes.set_title(f"{result.data['files']} × 2 KB files to {result.data['hosts']} hosts")
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend()
    return _save(figure, path)


def rollout(result: CaseResult, path: Path) -> Path:
    """Wall time against file count, one panel per host count, each tool under both strategies."""
    hosts = result.data["hosts"]
    figure = _figure(5 * len(hosts), 4.2)
    walls = result.data["walls"]
    for index, count in enumerate(hosts, start=1):
        axes = figure.add_subplot(1, len(hosts), index)
        for color, (tool, label) in enumerate((("ours", "handoff playbook"), ("builtin", "copy → wait_for → mv"),
                                               ("copy", "plain copy"))):
            for strategy, style in (("linear", "-"), ("mitogen_linear", "--")):
                points = [(files, walls[f"{tool}/{strategy}/{count}/{files}"]) for files in result.data["files"]
                          if f"{tool}/{strategy}/{count}/{files}" in walls]
                if points:
                    axes.plot(*zip(*points), marker="o", linestyle=style, color=f"C{color}",
                              label=f"{label}, {strategy}")
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xticks(result.data["files"], [str(files) for files in result.data["files"]])
        axes.set_xlabel("files (3 KB each)")
        axes.set_ylabel("wall time (s, median)")
        axes.set_title(f"Rollout to {count} hosts")
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="x-small")
    return _save(figure, path)


PLOTTERS = {"large_file": large_file, "marker_latency": marker_latency, "fleet_scale": fleet_scale,
            "small_files": small_files, "rollout": rollout}


def draw(result: CaseResult, directory: Path) -> Path | None:
    """The plot of ``result`` as ``directory/<case>.png``, or None for cases without one."""
    plotter = PLOTTERS.get(result.key)
    return plotter(result, directory / f"{result.key}.png") if plotter else None
