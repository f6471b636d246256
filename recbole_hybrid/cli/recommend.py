"""Top-k recommendations from a saved model alone, for the item after each user's last known interaction.

    recbole-hybrid recommend --checkpoint=RUN_DIR/best.pth --users=1,2,3 --topk=10 [--exclude_seen] [--out=recs.csv]

(``python -m recbole_hybrid recommend`` is the same command.)

The checkpoint's plain config rebuilds the dataset (id maps and, for the hybrids, the co-occurrence graph of the
training split); nothing is trained. Each user's input is the last ``MAX_ITEM_LIST_LENGTH`` items of their whole
history in time order (validation and test items included), so the model predicts what comes after the test item.
"""

from __future__ import annotations

import csv
from pathlib import Path

from recbole_hybrid.quick_start.recommend import Recommender
from recbole_hybrid.utils.errors import UsageError
from recbole_hybrid.utils.flags import command_parser, parse_command


def main(argv: list[str]) -> int:
    """Print (and with ``--out`` write as CSV) each user's top-k items; return the exit status (user mistakes raise)."""
    summary, details = __doc__.split("\n\n", 1)
    parser = command_parser("recbole-hybrid recommend", f"{summary}\n\n{details}", settings=False)
    parser.add_argument("--checkpoint", required=True, help="best.pth of a run (<checkpoint_dir>/<run_id>/best.pth)")
    parser.add_argument("--users", required=True, help="comma-separated user ids as in the dataset's files")
    parser.add_argument("--topk", type=int, default=10)
    parser.add_argument("--exclude_seen", action="store_true", help="never recommend an item the user had")
    parser.add_argument("--out", help="also write the rows to this CSV file")
    parser.add_argument("--device", default="cpu")
    args, _ = parse_command(parser, argv, settings=False)
    tokens = [t.strip() for t in args.users.split(",") if t.strip()]
    if not tokens:
        raise UsageError("--users is empty: give user ids such as --users=1,2,3")
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint {args.checkpoint} not found")
    rows = Recommender(args.checkpoint, args.device).recommend(tokens, args.topk, args.exclude_seen)
    for row in rows:
        print(f"{row['user_id']}\t{row['rank']}\t{row['item_id']}\t{row['title']}")
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["user_id", "rank", "item_id", "score", "title"])
            writer.writeheader()
            writer.writerows(rows)
    return 0
