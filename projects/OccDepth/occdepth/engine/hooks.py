"""Training hooks of OccDepth."""
from collections.abc import MutableMapping
from typing import Any, Dict, Optional, Sequence

from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


@HOOKS.register_module()
class LossWeightDecayHook(Hook):
    """Linearly decay loss weights over training (OccDepth Sec. 3.5).

    The paper's "loss weight adjustment" against over-fitting (the
    reference's ``sem_step_decay_loss``) multiplies the semantic scene-class
    affinity loss by ``max(min_factor, 1 - iter / max_iters)``. Before every
    training iteration this hook sets

    ``target[name] = base[name] * max(min_factor, 1 - runner.iter /
    runner.max_iters)``

    for each ``name`` in ``loss_names``, where ``target`` is the object at
    the dotted attribute path ``weights_attr`` of the (unwrapped) model and
    ``base`` the values it held when training started, i.e. the configured
    weights. ``target`` may be a mapping (item access) or any object
    (attribute access). The factor depends only on ``runner.iter``, so a
    resumed run continues the schedule where it stopped; the reference
    counts steps in the process and restarts at 1 after a resume. The
    current weights are logged as ``<name>_weight``.

    The released OccDepth configs do not use the schedule; add the hook to
    ``custom_hooks`` to enable it.

    Args:
        loss_names: Keys (or attribute names) of the weights to decay.
        weights_attr: Dotted path from the model to the weight container.
        min_factor: Lower bound of the multiplier.
    """

    priority = 'NORMAL'

    def __init__(self,
                 loss_names: Sequence[str] = ('sem_scal', ),
                 weights_attr: str = 'occ_head.loss_weights',
                 min_factor: float = 0.1) -> None:
        if isinstance(loss_names, str):
            loss_names = (loss_names, )
        if not loss_names:
            raise ValueError('LossWeightDecayHook: loss_names is empty')
        if not 0.0 <= min_factor <= 1.0:
            raise ValueError('LossWeightDecayHook: min_factor must lie in '
                             f'[0, 1], got {min_factor}')
        self.loss_names = tuple(loss_names)
        self.weights_attr = weights_attr
        self.min_factor = float(min_factor)
        self.base_weights: Optional[Dict[str, float]] = None

    def _target(self, runner: Any) -> Any:
        """The weight container of the unwrapped model."""
        obj = runner.model
        if is_model_wrapper(obj):
            obj = obj.module
        path = 'model'
        for part in self.weights_attr.split('.'):
            if not hasattr(obj, part):
                raise ValueError(
                    f'LossWeightDecayHook: {path} has no attribute '
                    f"'{part}' (weights_attr='{self.weights_attr}')")
            obj = getattr(obj, part)
            path = f'{path}.{part}'
        return obj

    def _get(self, target: Any, name: str) -> float:
        """Current weight ``name`` of ``target``."""
        if isinstance(target, MutableMapping):
            if name in target:
                return float(target[name])
        elif hasattr(target, name):
            return float(getattr(target, name))
        raise ValueError(
            f'LossWeightDecayHook: model.{self.weights_attr} has no weight '
            f"'{name}'")

    def factor(self, cur_iter: int, max_iters: int) -> float:
        """Multiplier ``max(min_factor, 1 - cur_iter / max_iters)``."""
        if max_iters <= 0:
            raise ValueError('LossWeightDecayHook: max_iters must be '
                             f'positive, got {max_iters}')
        return max(self.min_factor, 1.0 - cur_iter / max_iters)

    def before_train(self, runner: Any) -> None:
        """Record the configured weights."""
        target = self._target(runner)
        self.base_weights = {
            name: self._get(target, name)
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
        target = self._target(runner)
        scale = self.factor(runner.iter, runner.max_iters)
        for name, base in self.base_weights.items():
            value = base * scale
            if isinstance(target, MutableMapping):
                target[name] = value
            else:
                setattr(target, name, value)
            runner.message_hub.update_scalar(f'train/{name}_weight', value)
