"""Train and evaluate one model, as RecBole's run_recbole.py does, for plugin and built-in models alike.

    python run.py --model=HybridDiscrete --dataset=ml-1m [--config_files="a.yaml b.yaml"] [--key=value ...]

Short flags: --epochs --patience (stopping_step) --batch_size (train_batch_size) --lr (learning_rate)
--d_model (hidden_size) --n_heads --n_blocks (n_layers) --L_short --L_long --seed; any other --key=value is a
RecBole setting.
"""

import sys

from recbole_hybrid.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
