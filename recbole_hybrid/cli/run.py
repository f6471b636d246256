"""``recbole-hybrid run`` (and ``python run.py``): train, validate and test one model, as RecBole's ``run_recbole.py``."""

from __future__ import annotations


from recbole_hybrid.quick_start.runner import resume_run, run_experiment
from recbole_hybrid.utils.errors import UsageError
from recbole_hybrid.utils.flags import command_parser, parse_command

RUN_DESCRIPTION = """Train one model with early stopping on validation NDCG@10, test the best epoch once, write the run
record <results_dir>/<run_id>.json and the run folder <checkpoint_dir>/<run_id>/ (best.pth, last.pth).

  recbole-hybrid run --model=HybridDiscrete --dataset=ml-1m --config_files=my.yaml --lr=5e-4
  recbole-hybrid run --resume=saved/<run_id>

--model: HybridFixed | HybridDiscrete | HybridLearnable | HybridContinuous | HybridResidual | any RecBole
  sequential model.
--dataset: ml-100k (shipped with RecBole) | ml-1m | ml-1m-sasrec | any atomic dataset under --data_path.
Useful settings: --trainer=auto|fast|recbole, --filter_seen=True (select on validation NDCG@10 with each user's
seen items excluded; both are always reported), --data_path, --checkpoint_dir, --results_dir."""


def main(argv: list[str]) -> int:
    """``recbole-hybrid run``: one experiment from flags, or ``--resume`` of an interrupted one."""
    parser = command_parser("recbole-hybrid run", RUN_DESCRIPTION)
    parser.add_argument("--model", help="model class name (default: HybridDiscrete)")
    parser.add_argument("--dataset", help="dataset name (default: ml-100k)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the interrupted run in this folder with the settings it was started with; "
                             "only --epochs=N (a new budget) may be given with it")
    args, settings = parse_command(parser, argv)
    if args.resume:
        other = [f"--{key}" for key in ("model", "dataset", "config_files") if getattr(args, key)]
        other += [f"--{key}" for key in settings if key != "epochs"]
        if other:
            raise UsageError(f"--resume continues a run with the settings it was started with: drop "
                             f"{', '.join(other)} (only --epochs may change), or start a new run without --resume")
        resume_run(args.resume, epochs=settings.get("epochs"))
    else:
        run_experiment(args.model or "HybridDiscrete", args.dataset or "ml-100k", args.config_files, settings)
    return 0
