"""Hyper-parameter search with Ray Tune over a yaml search space (validation NDCG@10 only).

    python tune/search.py --model=HybridDiscrete --dataset=ml-1m --space=tune/spaces/hybrid_discrete.yaml
        --num_samples=N --gpus_per_trial=F --cpus_per_trial=C [--scheduler=asha|fifo] [--search=random|optuna|grid]
        [--address=auto|HOST:PORT] [--storage_path=DIR] [--name=NAME] [--resume] [--max_concurrent=K]
        [--max_failures=2] [--grace_period=3] [--search_seed=2020] [--num_cpus=N] [--out_dir=DIR] [--tuned_dir=DIR]
        [--final_test=SEEDS]
        [--config_files=...] [--key=value ...]

--gpus_per_trial defaults to 1 when the Ray cluster has GPUs, else 0. Any other --key=value is a RecBole
setting fixed for every trial (short names as in run.py; --seed is RecBole's seed). Writes
<out_dir>/trials.csv, <out_dir>/curves.png and <tuned_dir>/<Model>-<dataset>.yaml (default properties/tuned/).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from recbole_hybrid.tuning import main  # noqa: E402

if __name__ == "__main__":
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
