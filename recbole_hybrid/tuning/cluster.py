"""Ray itself: start or join it, ship this project's code to its workers, check trial resources node by node."""

from __future__ import annotations

from typing import Any

from recbole_hybrid.utils.resources import source_root
from recbole_hybrid.utils.errors import UsageError

#: Never uploaded with the project's code: data, outputs, environments (``.gitignore`` is honoured as well).
NOT_SHIPPED = ["/.git", "/.venv", "/dataset", "/saved", "/log", "/log_tensorboard", "/results", "*.pth"]


class TuneSetupError(UsageError, RuntimeError):
    """A search that cannot start (resources, folders, flags); the message says what to change."""


def runtime_env() -> dict[str, Any]:
    """How Ray's workers import ``recbole_hybrid``, on this machine and on every node of a cluster.

    From a source checkout, the checkout itself is the job's ``working_dir``: Ray zips it (without data and outputs,
    ``NOT_SHIPPED``), uploads it once per search and unpacks it on each node, where it comes first on the workers'
    ``sys.path``; the nodes need the same Python packages, not the same folders. From an installed package (no
    ``pyproject.toml`` beside it) every node imports its own installed copy.
    """
    checkout = source_root()
    if checkout is not None:
        return {"working_dir": str(checkout), "excludes": NOT_SHIPPED}
    return {}


def init_ray(address: str | None, num_cpus: int | None = None, num_gpus: int | None = None) -> None:
    """Join the cluster at ``address`` (``auto`` or ``HOST:PORT``), or start a local Ray with ``num_cpus`` CPUs and
    ``num_gpus`` GPUs (``None``: what the machine has; more than it has: declared GPUs, as Ray allows)."""
    import ray

    if address:
        ray.init(address=address, runtime_env=runtime_env(), log_to_driver=True)
    else:
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                 runtime_env=runtime_env())


def node_resources() -> list[dict[str, float]]:
    """``{"CPU": ..., "GPU": ...}`` of every live node of the connected Ray cluster."""
    import ray

    return [{"CPU": n["Resources"].get("CPU", 0.0), "GPU": n["Resources"].get("GPU", 0.0)}
            for n in ray.nodes() if n.get("Alive")]


def default_gpus_per_trial(nodes: list[dict[str, float]]) -> float:
    """One whole GPU per trial when some node has GPUs, else 0.

    Not packing is the default until ``python tune/throughput.py`` has measured on a GPU that it
    pays: four stock RecBole SASRec processes sharing one H200 ran each epoch about 4.4 times slower than one alone
    (project notes), which would make 4 packed trials slower in all than 4 trials one after another.
    """
    return 1.0 if any(n["GPU"] > 0 for n in nodes) else 0.0


def check_resources(gpus_per_trial: float, cpus_per_trial: float, nodes: list[dict[str, float]]) -> None:
    """Refuse a trial that no single node can hold (Ray would leave it pending forever).

    A trial runs on one node: two 1-GPU nodes cannot hold a 2-GPU trial, whatever the cluster's totals.
    """
    if gpus_per_trial > 0 and not any(n["GPU"] > 0 for n in nodes):
        raise TuneSetupError(f"--gpus_per_trial={gpus_per_trial:g} but the Ray cluster has no GPU: use "
                             "--gpus_per_trial=0 on a CPU machine, or start Ray on GPU nodes")
    if any(n["GPU"] >= gpus_per_trial and n["CPU"] >= cpus_per_trial for n in nodes):
        return
    have = ", ".join(f"{n['GPU']:g} GPUs and {n['CPU']:g} CPUs" for n in nodes) or "none"
    raise TuneSetupError(f"--gpus_per_trial={gpus_per_trial:g} with --cpus_per_trial={cpus_per_trial:g}: no Ray "
                         f"node has that much (a trial runs on one node; nodes: {have}); ask for less per trial")
