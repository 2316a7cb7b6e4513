# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""A picture of the loss and validation metrics, written during training."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..utils.atomic import atomic_file


@HOOKS.register_module()
class TrainingCurveHook(Hook):
    """Plot the training loss and validation metrics with matplotlib.

    The picture is rewritten after every validation and at the end of
    training, so a run stopped early still leaves one. The history is kept in
    the checkpoints (plain numbers, safe to load), so a resumed run draws the
    whole curve.

    Args:
        out_file (str): File name, relative to the run's log dir
            (``work_dir/<timestamp>``). Defaults to ``'training_curve.png'``.
        metrics (Sequence[str], optional): Validation metrics to draw, e.g.
            ``['accuracy/top1']``; by default all that are numbers.
        smooth (int): Average the loss over this many iterations.

    Example:
        >>> custom_hooks = [dict(type='TrainingCurveHook')]
    """

    priority = 'LOW'

    def __init__(self,
                 out_file: str = 'training_curve.png',
                 metrics: Optional[Sequence[str]] = None,
                 smooth: int = 10) -> None:
        self.out_file = out_file
        self.metrics = list(metrics) if metrics is not None else None
        self.smooth = max(1, int(smooth))
        self.loss: List[Tuple[int, float]] = []
        self.val: Dict[str, List[Tuple[int, float]]] = {}

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        loss = (outputs or {}).get('loss')
        if loss is not None:
            loss = loss.detach().item() if hasattr(loss, 'detach') else loss
            self.loss.append((runner.iter + 1, float(loss)))

    def after_val_epoch(self, runner, metrics=None) -> None:
        for key, value in (metrics or {}).items():
            if self.metrics is not None and key not in self.metrics:
                continue
            if isinstance(value, (int, float)):
                self.val.setdefault(key, []).append((runner.iter,
                                                     float(value)))
        self.plot(runner)

    def after_train(self, runner) -> None:
        self.plot(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['training_curve'] = dict(
            loss=[list(p) for p in self.loss],
            val={k: [list(p) for p in v] for k, v in self.val.items()})

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get('meta', {}).get('training_curve')
        if saved:
            self.loss = [tuple(p) for p in saved['loss']]
            self.val = {k: [tuple(p) for p in v]
                        for k, v in saved['val'].items()}

    def _smoothed_loss(self) -> Tuple[List[int], List[float]]:
        steps = [s for s, _ in self.loss]
        values = [v for _, v in self.loss]
        n, out, total = self.smooth, [], 0.0
        for i, v in enumerate(values):
            total += v - (values[i - n] if i >= n else 0.0)
            out.append(total / min(i + 1, n))
        return steps, out

    @master_only
    def plot(self, runner) -> Optional[str]:
        """Write the picture; returns its path (None if nothing to draw)."""
        if not self.loss and not self.val:
            return None
        import matplotlib
        matplotlib.use('Agg', force=False)
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        if self.loss:
            steps, values = self._smoothed_loss()
            ax.plot(steps, values, color='tab:blue', label='train loss')
        ax.set_xlabel('iteration')
        ax.set_ylabel('loss', color='tab:blue')
        if self.val:
            ax2 = ax.twinx()
            for i, (key, points) in enumerate(sorted(self.val.items())):
                ax2.plot([s for s, _ in points], [v for _, v in points],
                         marker='o', color=f'C{i + 1}', label=f'val {key}')
            ax2.set_ylabel('validation metric')
            ax2.legend(loc='center right')
        ax.legend(loc='upper right')
        ax.set_title(osp.basename(runner.work_dir))
        fig.tight_layout()
        path = osp.join(runner.log_dir, self.out_file)
        try:  # never a half-written picture
            with atomic_file(path, suffix='.png') as tmp:
                fig.savefig(tmp)  # the suffix tells savefig the format
        finally:
            plt.close(fig)
        return path
