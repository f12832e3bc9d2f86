"""Training: `cgraph fit`, `Program.fit`, `cgraph.fit`.

    from cgraph.train import fit
    result = fit(program, "rows.csv", optimizer="adam", lr=1e-2, epochs=20)

The modules, by job:

- `data`: `Dataset` and `read_data` (.csv with `x[0], x[1]…` column groups,
  .npz, .parquet);
- `objective`: `Objective`, the mean loss over a mini-batch and its gradients
  (a program written per row, vectorised; or one that takes the whole batch);
- `optimizers`: SGD, Adam, AdamW, RMSprop with torch.optim's formulas and
  defaults; `make_optimizer`;
- `schedules`: `lr_at` (constant, step, cosine);
- `checkpoint`: `save` / `load` of params + optimiser state + history (.npz);
- `loop`: `fit` and `FitResult`.
"""
from .loop import FitResult, NonFiniteLoss, fit
from .optimizers import OPTIMIZERS, make_optimizer
from .schedules import SCHEDULES

__all__ = ["FitResult", "NonFiniteLoss", "OPTIMIZERS", "SCHEDULES", "fit", "make_optimizer"]
