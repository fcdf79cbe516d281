"""``colbert.modeling`` for jcolbert: `checkpoint.Checkpoint` and `colbert.colbert_score`."""
