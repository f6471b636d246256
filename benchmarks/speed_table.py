"""Print the README's markdown from a ``train_speed.py``, ``profile_stock.py`` or ``sequence_speed.py`` JSON file.

    python benchmarks/speed_table.py results/benchmarks/train_speed-cpu-ml-100k.json
    python benchmarks/speed_table.py results/benchmarks/profile_stock-cpu-ml-100k.json
    python benchmarks/speed_table.py results/benchmarks/sequence_speed-cpu-ml-1m.json
    python benchmarks/speed_table.py results/benchmarks/wallclock_quality-cpu-ml-1m.json
    python benchmarks/speed_table.py results/benchmarks/validation_speed-cpu-ml-1m.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def table(record: dict) -> str:
    """One row per (batch size, variant, model): ms/step, samples/s, s/epoch, ratio to stock SASRec, ops/step."""
    ops_key = "cuda_kernels_per_step" if record["device"].startswith("NVIDIA") else "cpu_ops_per_step"
    lines = [
        f"{record['device']}, {record['dataset']} ({record['train_rows']} training rows), preset {record['preset']}, "
        f"seed {record['settings']['seed']}, torch threads {record['torch_threads']}, {record['date']}",
        "",
        "| batch | trainer | model | ms/step | samples/s | s/epoch | epoch vs stock SASRec | "
        f"{ops_key.replace('_', ' ')} |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    stock = {r["batch_size"]: r["epoch_s"] for r in record["results"]
             if r["variant"] == "recbole" and r["model"] == "SASRec"}
    for r in record["results"]:
        ops = r.get(ops_key)
        lines.append(
            f"| {r['batch_size']} | {r['variant']} | {r['model']} | {r['ms_per_step']:.1f} | "
            f"{r['samples_per_s']:.0f} | {r['epoch_s']:.1f} | {r['epoch_s'] / stock[r['batch_size']]:.2f} | "
            f"{'' if ops is None else f'{ops:.0f}'} |")
    evals = ", ".join(f"{m} {s:.2f} s" for m, s in record["eval_full_ranking_s"].items())
    lines += ["", f"Full-ranking validation (`recbole_hybrid/evaluation.py`, both candidate sets in one pass): {evals}."]
    return "\n".join(lines)


def profile_table(record: dict) -> str:
    """Where stock RecBole's training time goes: data pipeline, anomaly detection, threads."""
    st, ms = record["settings"], record["step_ms"]
    lines = [
        f"{record['device']}, ml-100k, batch {st['train_batch_size']}, max length {st['MAX_ITEM_LIST_LENGTH']}, "
        f"hidden {st['hidden_size']}, {st['n_layers']} layer, seed {st['seed']}, {record['date']}",
        "",
        "| what | time |",
        "|---|---:|",
        f"| RecBole training DataLoader alone, one epoch ({record['steps_per_epoch']} batches) | "
        f"{record['recbole_dataloader_epoch_s']:.2f} s |",
        f"| fast trainer's batch gathering, one epoch | {record['fast_batches_epoch_s']:.3f} s |",
    ]
    for key, value in ms.items():
        threads, anomaly = key.split("_anomaly_")
        lines.append(f"| training step, {threads.replace('threads', '')} thread(s), anomaly detection {anomaly} | "
                     f"{value:.0f} ms |")
    lines += [f"| building RecBole's `Trainer` | {record['trainer_init_s']:.2f} s |", "",
              f"Anomaly detection on after importing RecBole: {record['anomaly_enabled_after_importing_recbole']}; "
              f"its NaN checks (`aten::ne`, `aten::any`, `aten::isnan`) take "
              f"{100 * record['anomaly_on_nan_check_share']:.0f}% of a profiled step's CPU time."]
    return "\n".join(lines)


def sequence_table(record: dict) -> str:
    """Sequence against prefix epochs (``sequence_speed.py``), as ratios measured in the same interleaved rounds."""
    rows = record["results"]
    timed = [r for r in rows if "s_per_step" in r]
    ref = next((r["epoch_s"] for r in timed if (r["variant"], r["model"]) == ("sequence-probe-scheme", "SASRec")),
               None)  # absent when --variants left it out
    seq = next(r["epoch_s"] for r in timed if (r["variant"], r["model"]) == ("sequence", "SASRec"))
    lines = [
        f"{record['device']}, {record['dataset']}, {record['config']}, torch threads {record['threads']}, "
        f"{record['rounds']} interleaved rounds of {record['steps']} steps (prefix: {record['prefix_steps']} steps of "
        f"{record['prefix_batch']} rows), "
        + (f"after {record['warmup']} untimed warm-up step(s) per variant, " if record.get("warmup") else "")
        + f"median, {record['date']}",
        "",
        "| variant | model | steps/epoch | s/step | epoch s (scaled) | vs probe scheme | vs sequence SASRec |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in timed:
        vs_probe = "" if ref is None else f"{r['epoch_s'] / ref:.2f}"
        lines.append(f"| {r['variant']} | {r['model']} | {r['steps_per_epoch']} | {r['s_per_step']:.3f} | "
                     f"{r['epoch_s']:.1f} | {vs_probe} | {r['epoch_s'] / seq:.2f} |")
    probe = [r for r in rows if r["variant"] == "probe"]
    tail = f"One full validation (6,034 users, both candidate sets): {record['valid_s']:.1f} s."
    if probe:
        tail += (f" The reference probe itself (`{probe[0]['model']}`, one whole epoch, its own timing, run after the "
                 f"rounds): {probe[0]['epoch_s']:.1f} s.")
    return "\n".join(lines + ["", tail])


def wallclock_table(record: dict) -> str:
    """Validation NDCG@10 of each scheme at each training-time checkpoint (``wallclock_quality.py``)."""
    checkpoints = record["checkpoints_s"]
    lines = [
        f"{record['device']}, {record['dataset']}, seed {record['seed']}, torch threads {record['threads']}, "
        f"{record['date']}. Each cell: validation NDCG@10 with seen items excluded (all items as candidates), "
        "after epochs trained",
        "",
        "| scheme | model | length | batch | dropout | steps/epoch | "
        + " | ".join(f"after {c:g} s" for c in checkpoints) + " |",
        "|---|---|---:|---:|---:|---:|" + "---:|" * len(checkpoints),
    ]
    for r in record["results"]:
        st = r["settings"]
        cells = [f"{p['valid_ndcg@10_filter_seen']:.4f} ({p['valid_ndcg@10']:.4f}), {p['epochs']:.3g} ep"
                 for p in r["points"]]
        lines.append(f"| {r['scheme']} | {r['model']} | {st['MAX_ITEM_LIST_LENGTH']} | {st['train_batch_size']} | "
                     f"{st['hidden_dropout_prob']} | {r['steps_per_epoch']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def loss_weight_table(record: dict) -> str:
    """Each window group's share of the targets and of the gradient weight (``sequence_loss_weights.py``)."""
    lines = [
        f"{record['dataset']}, {record['config']}, {record['batching']} batching, {record['windows']} windows, "
        f"{record['targets']} targets, {record['steps_per_epoch']} steps per epoch, shares averaged over "
        f"{record['epochs']} epochs of the trainer's batches, {record['date']}",
        "",
        "| targets in the window | windows | share of the targets | weight share, `target` | weight share, `batch` |",
        "|---|---:|---:|---:|---:|",
    ]
    for g in record["groups"]:
        lines.append(f"| {g['targets']} | {g['windows']} | {100 * g['target_share']:.1f}% | "
                     f"{100 * g['weight_share_target']:.1f}% | {100 * g['weight_share_batch']:.1f}% |")
    return "\n".join(lines)


def validation_table(record: dict) -> str:
    """One full validation per model, RecBole's layers against the fused ones (``validation_speed.py``)."""
    lines = [
        f"{record['device']}, {record['dataset']}, {record['config']}, {record['users']:,} users, both candidate "
        f"sets, torch threads {record['threads']}, median of {record['rounds']} interleaved rounds, {record['date']}",
        "",
        "| model | RecBole's layers, s | fused layers, s | fused / RecBole's | users whose rank differs | "
        "largest metric difference |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in record["results"]:
        lines.append(f"| {r['model']} | {r['plain_s']:.2f} | {r['fused_s']:.2f} | {r['fused_s'] / r['plain_s']:.2f} | "
                     f"{r['users_rank_differs']} (seen excluded: {r['users_rank_filter_seen_differs']}) | "
                     f"{r['max_metric_difference']:.1e} |")
    return "\n".join(lines)


RENDERERS = {"profile_stock": profile_table, "sequence_loss_weights": loss_weight_table, "sequence_speed": sequence_table, "validation_speed": validation_table,
             "wallclock_quality": wallclock_table}

if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1]).read_text())
    render = RENDERERS.get(data["benchmark"], table)
    print(render(data))
