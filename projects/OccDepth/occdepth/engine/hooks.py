"""Training hooks of OccDepth."""
from typing import Any, Dict, Optional, Sequence

from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn


@HOOKS.register_module()
class LossWeightDecayHook(Hook):
    """Linearly decay loss weights over training (OccDepth Sec. 3.5).

    The paper's "loss weight adjustment" against over-fitting (the
    reference's ``sem_step_decay_loss``) multiplies the semantic scene-class
    affinity loss by ``max(min_factor, 1 - iter / max_iters)``. Before every
    training iteration this hook sets

    ``loss.loss_weight = base * max(min_factor, 1 - runner.iter /
    runner.max_iters)``

    for the loss module of each name in ``loss_names`` (a sub-module name of
    the unwrapped model, as in ``model.named_modules()``), where ``base`` is
    its ``loss_weight`` when training started, i.e. the configured weight.
    The factor depends only on ``runner.iter``, so a resumed run continues
    the schedule where it stopped; the reference counts steps in the process
    and restarts at 1 after a resume. The current weight of
    ``occ_head.loss_sem_scal`` is logged as ``loss_sem_scal_weight``.

    The released OccDepth configs do not use the schedule; add the hook to
    ``custom_hooks`` to enable it.

    Args:
        loss_names: Names of the loss modules to decay.
        min_factor: Lower bound of the multiplier.
    """

    priority = 'NORMAL'

    def __init__(self,
                 loss_names: Sequence[str] = ('occ_head.loss_sem_scal', ),
                 min_factor: float = 0.1) -> None:
        if isinstance(loss_names, str):
            loss_names = (loss_names, )
        if not loss_names:
            raise ValueError('LossWeightDecayHook: loss_names is empty')
        if not 0.0 <= min_factor <= 1.0:
            raise ValueError('LossWeightDecayHook: min_factor must lie in '
                             f'[0, 1], got {min_factor}')
        self.loss_names = tuple(loss_names)
        self.min_factor = float(min_factor)
        self.base_weights: Optional[Dict[str, float]] = None

    def _loss(self, runner: Any, name: str) -> nn.Module:
        """The loss module ``name`` of the unwrapped model."""
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        try:
            loss = model.get_submodule(name)
        except AttributeError:
            raise ValueError(f'LossWeightDecayHook: the model has no loss '
                             f"module '{name}' (a loss that is not "
                             'configured cannot be decayed)') from None
        if not isinstance(getattr(loss, 'loss_weight', None), (int, float)):
            raise ValueError(f"LossWeightDecayHook: model.{name} has no "
                             'numeric loss_weight')
        return loss

    def factor(self, cur_iter: int, max_iters: int) -> float:
        """Multiplier ``max(min_factor, 1 - cur_iter / max_iters)``."""
        if max_iters <= 0:
            raise ValueError('LossWeightDecayHook: max_iters must be '
                             f'positive, got {max_iters}')
        return max(self.min_factor, 1.0 - cur_iter / max_iters)

    def before_train(self, runner: Any) -> None:
        """Record the configured weights."""
        self.base_weights = {
            name: float(self._loss(runner, name).loss_weight)
            for name in self.loss_names
        }

    def before_train_iter(self,
                          runner: Any,
                          batch_idx: int,
                          data_batch: Any = None) -> None:
        """Scale the weights for the iteration about to run."""
        if self.base_weights is None:
            raise RuntimeError('LossWeightDecayHook: before_train() must run '
                               'before before_train_iter()')
        scale = self.factor(runner.iter, runner.max_iters)
        for name, base in self.base_weights.items():
            value = base * scale
            self._loss(runner, name).loss_weight = value
            key = name.rsplit('.', 1)[-1]
            runner.message_hub.update_scalar(f'train/{key}_weight', value)
