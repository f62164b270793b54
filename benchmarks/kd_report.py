"""The accuracy suites' tables, targets and figure: per-row statistics over seeds with the
model's costs and latency, the targets each distilled row is held to, and the
accuracy-latency plot. Not a script: imported by the accuracy scripts.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from harness import write_result
from kd_suite import Suite


def summarise(records: list[dict[str, Any]], latency: list[dict[str, Any]]) -> list[dict]:
    """Mean and sample std over seeds per row, with the model's costs and latencies."""
    by_row: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_row.setdefault(r["row"], []).append(r)
    lat = {(r["row"], r["backend"]): r for r in latency}
    # Latency depends on the architecture, not the weights: report each model's median over
    # the rows that measured it, so that run-to-run noise does not rank rows of one model.
    per_model: dict[tuple[str, str], list[float]] = {}
    arch_of = {r["row"]: r["arch"] for r in records}
    for r in latency:
        per_model.setdefault((arch_of[r["row"]], r["backend"]), []).append(r["latency_p50_ms"])
    table = []
    for name, runs in by_row.items():
        first = runs[0]
        entry: dict[str, Any] = {
            "row": name,
            "group": first["group"],
            "model": first["model"],
            "arch": first["arch"],
            "kd": first["kd"],
            "seeds": [r["seed"] for r in runs],
        }
        for key in ("miou", "mdice", "pixel_accuracy", "train_s"):
            values = [r[key] for r in runs]
            entry[key] = statistics.fmean(values)
            entry[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        torch_row = lat.get((name, "torch"))
        int8_row = lat.get((name, "onnx-int8"))
        if torch_row:
            entry["params"], entry["flops"] = torch_row["params"], torch_row["flops"]
            entry["torch_ms"] = statistics.median(per_model[(first["arch"], "torch")])
        if int8_row:
            entry["int8_ms"] = statistics.median(per_model[(first["arch"], "onnx-int8")])
            entry["int8_miou"] = int8_row.get("int8_miou")
        table.append(entry)
    return table


def targets(table: list[dict[str, Any]], student: str = "student_s") -> list[dict[str, Any]]:
    """The issue's targets, each with its measured value and whether it is met. A distilled row
    is compared with the scratch row of its own arch (a wider variant with its wider scratch)."""
    teacher = next((r for r in table if r["group"] == "teacher"), None)
    if teacher is None:  # --collect before the teacher finished: nothing to compare with
        return []
    mine = [r for r in table if r["model"] == student]
    scratch_of = {r["arch"]: r for r in mine if not r["kd"]}
    out = []
    for r in mine:
        scratch = scratch_of.get(r["arch"])
        if not r["kd"] or scratch is None:
            continue
        share = r["miou"] / teacher["miou"]
        gain = r["miou"] - scratch["miou"]
        out.append(
            {
                "target": f"{r['row']}: mIoU >= 95% of teacher",
                "value": f"{100 * share:.1f}%",
                "met": share >= 0.95,
            }
        )
        out.append(
            {
                "target": f"{r['row']}: >= scratch + 2 mIoU",
                "value": f"{gain:+.2f}",
                "met": gain >= 2.0,
            }
        )
    for arch, scratch in scratch_of.items():
        if "flops" in scratch and "flops" in teacher:
            ratio = teacher["flops"] / scratch["flops"]
            out.append(
                {
                    "target": f"{arch} FLOPs <= teacher / 15",
                    "value": f"1/{ratio:.1f}",
                    "met": ratio >= 15,
                }
            )
    for r in table:
        if r["group"] == "peer":
            gap = teacher["miou"] - r["miou"]
            out.append(
                {"target": f"teacher beats {r['row']}", "value": f"{gap:+.2f} mIoU", "met": gap > 0}
            )
    return out


def plus_minus(entry: dict[str, Any], key: str) -> str:
    """Mean ± std over seeds; the mean alone for one seed."""
    if len(entry["seeds"]) > 1:
        return f"{entry[key]:.2f} ± {entry[f'{key}_std']:.2f}"
    return f"{entry[key]:.2f}"


def markdown(table: list[dict[str, Any]], checks: list[dict[str, Any]]) -> str:
    """The results table and the targets, as Markdown."""
    lines = [
        "| row | seeds | mIoU | mDice | pixel acc | params (M) | GFLOPs | torch ms | INT8 ms "
        "| INT8 mIoU (seed 0) | train s/run |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in table:
        cost = f"{e['params'] / 1e6:.2f} | {e['flops'] / 1e9:.2f}" if "params" in e else "- | -"
        torch_ms = f"{e['torch_ms']:.1f}" if "torch_ms" in e else "-"
        int8_ms = f"{e['int8_ms']:.1f}" if "int8_ms" in e else "-"
        int8_miou = e.get("int8_miou")
        int8_text = f"{int8_miou:.2f}" if int8_miou is not None else "-"
        lines.append(
            f"| {e['row']} | {len(e['seeds'])} | {plus_minus(e, 'miou')} "
            f"| {plus_minus(e, 'mdice')} | {plus_minus(e, 'pixel_accuracy')} | {cost} "
            f"| {torch_ms} | {int8_ms} | {int8_text} "
            f"| {e['train_s']:.0f} |"
        )
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    lines += [f"| {c['target']} | {c['value']} | {'yes' if c['met'] else 'NO'} |" for c in checks]
    return "\n".join(lines)


def save_figure(fig: Any, path: Path) -> None:
    """Lay out, write (making the folder) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def plot(table: list[dict[str, Any]], path: Path, title: str) -> None:
    """Accuracy against ORT INT8 latency (log scale): one point per row, seed std as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"teacher": "tab:red", "peer": "tab:gray"}
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for e in table:
        if "int8_ms" not in e:
            continue
        if e["group"] == "student":
            colour = "tab:blue" if e["model"] == "student_s" else "tab:green"
        else:
            colour = colours[e["group"]]
        marker = "o" if not e["kd"] else "^"
        ax.errorbar(
            e["int8_ms"], e["miou"], yerr=e["miou_std"], fmt=marker, color=colour, capsize=2
        )
        label = e["row"].replace("student_", "")
        ax.annotate(
            label, (e["int8_ms"], e["miou"]), fontsize=6, xytext=(4, 2), textcoords="offset points"
        )
    ax.set_xscale("log")
    ax.set_xlabel("ONNX Runtime INT8 latency, batch 1 (ms, log scale)")
    ax.set_ylabel("val mIoU (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    save_figure(fig, path)


def write_results(
    path: Path,
    suite: Suite,
    records: list[dict],
    latency: list[dict],
    started: dict,
    figure: Path | None = None,
    title: str = "",
) -> None:
    """Print the table and targets, draw the figure (where latency was measured) and write the
    result JSON with the recipe and the runs."""
    table = summarise(records, latency)
    checks = targets(table)
    print(markdown(table, checks))
    if figure is not None and latency:
        plot(table, figure, title)
        print(f"wrote {figure}")
    result = {
        "suite": suite.row_set.name if suite.row_set else None,
        "recipe": suite.recipe,
        "seeds": suite.args.seeds,
        "lanes": suite.args.lanes,
        "threads_per_run": suite.args.threads,
        "table": table,
        "targets": checks,
        "runs": records,
        "latency": latency,
    }
    write_result(path, result, started)
