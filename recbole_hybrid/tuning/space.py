"""Search spaces for Ray Tune, written as yaml in RecBole's vocabulary, and searchers that never suggest an invalid one.

A space file maps RecBole keys to either a plain value (fixed in every trial) or a one-key mapping that names a
distribution::

    epochs: 50                                   # fixed
    learning_rate: {loguniform: [1.0e-4, 1.0e-2]}
    hidden_size: {choice: [32, 64, 128]}
    L_short: {randint: [3, 12]}                  # both ends included
    L_long: {lograndint: [8, 199]}               # integers on a log scale, both ends included
    hidden_dropout_prob: {uniform: [0.1, 0.5]}
    eval_args: {fixed: {order: TO, mode: full}}  # a fixed mapping (a bare one would read as a distribution)

Constraints between keys (``L_short < L_long < MAX_ITEM_LIST_LENGTH``, ``hidden_size % n_heads == 0``, alphas in
range) are not written in the space: every draw goes through ``config.build_config``'s checks and a draw that fails
them is thrown away before any trial starts. Before a search starts, ``dead_values`` also finds any value of the
space that no valid trial can take (an ``n_heads`` choice that divides no ``hidden_size`` choice, an end of an
``L_short`` range past every ``L_long``), so that a space says what it searches.

The shipped spaces are ``recbole_hybrid/tuning/spaces/<name>.yaml``; ``--space=<name>`` finds them by name.
"""

from __future__ import annotations

import importlib.resources
import itertools
import math
import pickle
import random
from pathlib import Path
from typing import Any, Callable

import yaml
from ray import tune
from ray.tune.search import Searcher
from ray.tune.search.sample import Domain

from recbole_hybrid.utils.compat import kept_cuda_visible_devices
from recbole_hybrid.config import ConfigError, build_config
from recbole_hybrid.trainer.modes import AUTO_KEYS
from recbole_hybrid.utils.errors import UsageError

DISTRIBUTIONS = {
    "choice": lambda args: tune.choice(list(args)),
    "uniform": lambda args: tune.uniform(*args),
    "loguniform": lambda args: tune.loguniform(*args),
    "randint": lambda args: tune.randint(args[0], args[1] + 1),  # Ray's upper bound is exclusive
    "lograndint": lambda args: tune.lograndint(args[0], args[1] + 1),
}
_N_ARGS = {"uniform": 2, "loguniform": 2, "randint": 2, "lograndint": 2}
_INTEGERS = ("randint", "lograndint")
_LOG = ("loguniform", "lograndint")
#: ``key: {fixed: value}``: a fixed value that is itself a mapping (``eval_args``).
FIXED = "fixed"


#: Keys a space may not search: they decide what trials are ranked on, so all trials must share them.
NOT_SEARCHABLE = ("filter_seen", "valid_metric", "topk")


class SpaceError(UsageError):
    """A search-space file that cannot be searched; the message names the file and key."""


def shipped_spaces() -> Path:
    """The folder of the spaces that come with the package (package data)."""
    return Path(str(importlib.resources.files(__package__) / "spaces"))


def resolve_space(space: str | Path) -> Path:
    """A space file by path, or a shipped space by name (``hybrid_discrete`` or ``hybrid_discrete.yaml``)."""
    path = Path(space).expanduser()
    if path.is_file():
        return path.resolve()
    shipped = shipped_spaces() / (path.name if path.suffix == ".yaml" else f"{path.name}.yaml")
    if path.parent == Path(".") and shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in shipped_spaces().glob("*.yaml")))
    raise SpaceError(f"search space {space} does not exist (a file, or a shipped space: {names})")


def load_space(path: str | Path) -> tuple[dict[str, Any], dict[str, Domain]]:
    """Read a space file (or shipped space name) into ``(fixed settings, searched Ray domains)``."""
    path = resolve_space(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SpaceError(f"search space {path} is not valid yaml: {err}") from None
    if not isinstance(raw, dict) or not raw:
        raise SpaceError(f"search space {path} must be a mapping of RecBole keys")
    fixed, searched = {}, {}
    for key, value in raw.items():
        if not isinstance(value, dict):
            fixed[key] = value
            continue
        if len(value) == 1 and FIXED in value:
            fixed[key] = value[FIXED]
            continue
        if len(value) != 1 or next(iter(value)) not in DISTRIBUTIONS:
            raise SpaceError(f"{path}: {key}: write one of {sorted(DISTRIBUTIONS)} with its arguments, "
                             f"e.g. {{choice: [32, 64]}}, or {{{FIXED}: VALUE}} for a fixed mapping; got {value!r}")
        if key in NOT_SEARCHABLE:
            raise SpaceError(f"{path}: {key} decides the metric that trials are ranked on: fix it (a plain value "
                             f"or --{key}=...), do not search it")
        (kind, args), = value.items()
        if not isinstance(args, list) or not args or (kind in _N_ARGS and len(args) != _N_ARGS[kind]):
            need = f"{_N_ARGS[kind]} numbers [low, high]" if kind in _N_ARGS else "a non-empty list"
            raise SpaceError(f"{path}: {key}: {kind} needs {need}, got {args!r}")
        if kind in _N_ARGS and not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
            raise SpaceError(f"{path}: {key}: {kind} needs numbers [low, high], got {args!r}")
        if kind in _INTEGERS and not all(isinstance(a, int) for a in args):
            raise SpaceError(f"{path}: {key}: {kind} needs integers [low, high], got {args!r}")
        if kind in _N_ARGS and not args[0] < args[1]:
            raise SpaceError(f"{path}: {key}: {kind} needs low < high, got {args!r}")
        if kind in _LOG and not args[0] > 0:
            raise SpaceError(f"{path}: {key}: {kind} is on a log scale: it needs low > 0, got {args!r}")
        searched[key] = DISTRIBUTIONS[kind](args)
    if not searched:
        raise SpaceError(f"search space {path} searches nothing: give at least one key a distribution")
    return fixed, searched


def config_problem(model: str, dataset: str, config_files: list[str], fixed: dict[str, Any],
                   params: dict[str, Any]) -> str | None:
    """Why the fixed settings with a draw ``params`` cannot train (``build_config``'s message), or ``None``.

    Runs in the search's driver: ``CUDA_VISIBLE_DEVICES`` stays as it was (RecBole's ``Config`` would set it).
    """
    try:
        with kept_cuda_visible_devices():
            build_config(model, dataset, config_files, {**fixed, **params})
    except ConfigError as err:
        return str(err)
    return None


def resolved_auto_settings(model: str, dataset: str, config_files: list[str], fixed: dict[str, Any],
                           params: dict[str, Any]) -> dict[str, Any]:
    """What ``train_mode`` and ``train_batch_size`` (``config.AUTO_KEYS``) resolved to for a draw.

    A tuned property file pins them, so it keeps meaning the trained configuration if their ``auto`` defaults change.
    """
    with kept_cuda_visible_devices():
        config = build_config(model, dataset, config_files, {**fixed, **params})
    return {key: config[key] for key in AUTO_KEYS}


def probe_values(domain: Domain) -> list[Any]:
    """The values of a domain that a trial must be able to take: every choice, both ends of a range (a float
    range's upper end is Ray's open end: the largest float below it)."""
    if hasattr(domain, "categories"):
        return list(domain.categories)
    if isinstance(domain.lower, int) and isinstance(domain.upper, int):  # Ray's Integer: upper exclusive
        return [domain.lower, domain.upper - 1]
    return [domain.lower, math.nextafter(domain.upper, domain.lower)]


def dead_values(space: dict[str, Domain], problem: Callable[[dict[str, Any]], str | None], seed: int,
                draws: int = 100) -> list[tuple[str, Any, str]]:
    """``(key, value, last problem)`` for each value of ``probe_values`` that no valid trial takes: the key pinned
    to it, ``draws`` random draws of the other keys all fail ``problem``. A live value costs one valid draw."""
    rng = random.Random(seed)
    dead = []
    for key, domain in space.items():
        others = {k: d for k, d in space.items() if k != key}
        for value in probe_values(domain):
            last = None
            for _ in range(draws):
                params = {k: d.sample(random_state=rng.randrange(2**32)) for k, d in others.items()}
                last = problem({**params, key: value})
                if last is None:
                    break
            else:
                dead.append((key, value, last))
    return dead


def point_from_row(row: dict[str, str], space: dict[str, Domain], where: str) -> dict[str, Any]:
    """The searched values of one row of a trials CSV (text) as the space's values, to tell a searcher about a
    finished trial; ``SpaceError`` naming ``where`` and the key for a value the space cannot give."""
    point = {}
    for key, domain in space.items():
        text = row.get(key)
        if text is None or text == "":
            raise SpaceError(f"{where}: no value of {key}, which the space searches")
        if hasattr(domain, "categories"):
            matches = [c for c in domain.categories if str(c) == text]
            if not matches:
                raise SpaceError(f"{where}: {key}={text} is not one of the space's choices {domain.categories}")
            point[key] = matches[0]
            continue
        try:
            value = float(text)
        except ValueError:
            raise SpaceError(f"{where}: {key}={text!r} is not a number") from None
        integer = isinstance(domain.lower, int) and isinstance(domain.upper, int)
        if integer:
            if value != int(value):
                raise SpaceError(f"{where}: {key}={text} is not an integer")
            value = int(value)
        high_ok = value < domain.upper if integer else value <= domain.upper
        if not (domain.lower <= value and high_ok):
            high = domain.upper - 1 if integer else domain.upper
            raise SpaceError(f"{where}: {key}={text} is outside the space's range [{domain.lower}, {high}]")
        point[key] = value
    return point


class RandomSampler(Searcher):
    """Independent random draws from the space, reproducible from ``seed``."""

    def __init__(self, space: dict[str, Domain], seed: int) -> None:
        super().__init__()
        self.space, self.rng = space, random.Random(seed)

    def suggest(self, trial_id: str) -> dict[str, Any]:
        return {key: domain.sample(random_state=self.rng.randrange(2**32)) for key, domain in self.space.items()}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_bytes(pickle.dumps(self.rng.getstate()))

    def restore(self, checkpoint_path: str) -> None:
        self.rng.setstate(pickle.loads(Path(checkpoint_path).read_bytes()))


class GridSampler(Searcher):
    """Every combination of the ``choice`` lists once, in order; then ``FINISHED``."""

    def __init__(self, space: dict[str, Domain]) -> None:
        super().__init__()
        for key, domain in space.items():
            if not hasattr(domain, "categories"):
                raise SpaceError(f"grid search needs every searched key as a choice list; {key} is "
                                 f"{type(domain).__name__}")
        self.keys = list(space)
        self.grid = list(itertools.product(*(space[k].categories for k in self.keys)))
        self.position = 0

    def suggest(self, trial_id: str) -> dict[str, Any] | str:
        if self.position >= len(self.grid):
            return Searcher.FINISHED
        self.position += 1
        return dict(zip(self.keys, self.grid[self.position - 1]))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_bytes(pickle.dumps(self.position))

    def restore(self, checkpoint_path: str) -> None:
        self.position = pickle.loads(Path(checkpoint_path).read_bytes())


class ValidOnly(Searcher):
    """Wraps a searcher and suggests only configurations that ``problem`` accepts and that are none of ``ran``.

    A rejected draw is told to the inner searcher as a failed trial (Optuna learns to avoid it) under a private id
    ``<trial_id>#<n>``; results of the accepted draw are forwarded under the id it was drawn with.

    ``ran``: the configurations of a rebuilt search's finished trials. A seeded TPE replays its random start-up draws
    from the first one whatever it has been told, so without this the rebuilt search would draw those trials again.
    """

    def __init__(self, searcher: Searcher, problem: Callable[[dict[str, Any]], str | None],
                 max_draws: int = 200, ran: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.searcher, self.problem, self.max_draws = searcher, problem, max_draws
        self.ran = list(ran or [])
        self.inner_id: dict[str, str] = {}
        self.rejected: list[tuple[dict[str, Any], str]] = []

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        super().set_search_properties(metric, mode, config, **spec)
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        last = None
        for n in range(self.max_draws):
            inner_id = f"{trial_id}#{n}"
            params = self.searcher.suggest(inner_id)
            if params is None or params == Searcher.FINISHED:
                return params
            last = self.problem(params)
            if last is None and params in self.ran:
                last = "the configuration of a finished trial of the rebuilt search"
            if last is None:
                self.inner_id[trial_id] = inner_id
                return params
            self.rejected.append((params, last))
            self.searcher.on_trial_complete(inner_id, result=None, error=True)
        raise SpaceError(f"no valid configuration in {self.max_draws} draws from the search space; last problem: "
                         f"{last}")

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.inner_id:
            self.searcher.on_trial_result(self.inner_id[trial_id], result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self.inner_id:
            self.searcher.on_trial_complete(self.inner_id[trial_id], result=result, error=error)

    def get_state(self) -> dict[str, Any]:
        # Ray saves a wrapper's state and its inner searcher's (``save``) separately, as for ConcurrencyLimiter.
        return {"inner_id": dict(self.inner_id), "rejected": list(self.rejected)}

    def set_state(self, state: dict[str, Any]) -> None:
        self.inner_id, self.rejected = state["inner_id"], state["rejected"]


def build_searcher(search: str, space: dict[str, Domain], metric: str, seed: int,
                   problem: Callable[[dict[str, Any]], str | None],
                   evaluated: list[tuple[dict[str, Any], float]] | None = None,
                   ran: list[dict[str, Any]] | None = None) -> ValidOnly:
    """``random``, ``grid`` or ``optuna`` (TPE) over ``space``, suggesting valid configurations only.

    ``evaluated``: ``(point, best metric)`` of trials that finished before (a search rebuilt from its trials CSV);
    Optuna's study starts with them as completed trials. ``ran``: the points of all those finished trials, scored or
    not; no suggestion repeats one (``ValidOnly``).
    """
    if evaluated and search != "optuna":
        raise SpaceError(f"--search={search}: only optuna learns from finished trials (--rebuild_from)")
    if search == "random":
        inner = RandomSampler(space, seed)
    elif search == "grid":
        inner = GridSampler(space)
    elif search == "optuna":
        from optuna.samplers import TPESampler
        from ray.tune.search.optuna import OptunaSearch

        points = [point for point, _ in evaluated or []]
        inner = OptunaSearch(space=space, metric=metric, mode="max", sampler=TPESampler(seed=seed),
                             points_to_evaluate=points or None,
                             evaluated_rewards=[reward for _, reward in evaluated] if points else None)
    else:
        raise SpaceError(f"--search={search!r}: choose random, optuna or grid")
    return ValidOnly(inner, problem, ran=ran)
