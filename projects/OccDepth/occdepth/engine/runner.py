"""The Runner of the OccDepth configs: checked checkpoint loading and a
resume that survives a broken newest checkpoint."""
from typing import Dict, Optional

from mmdet3d.registry import RUNNERS
from mmengine.device import get_device
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from projects.OccDepth.occdepth.engine.checkpointing import (
    DEFAULT_REVISE_KEYS, CheckpointError, MapLocation, ReviseKeys,
    check_resumable, load_state_dict_checked, read_checkpoint,
    resume_candidates, state_dict_of)


@RUNNERS.register_module()
class OccDepthRunner(Runner):
    """mmengine's ``Runner`` reading checkpoints through
    :func:`~.checkpointing.read_checkpoint`.

    * Every checkpoint it loads (``load_from``, ``resume``) is read by the
      project's loader: an unreadable file raises
      :class:`~.checkpointing.CheckpointError` with one line naming it.
    * ``load_from`` loads strictly when the config sets
      ``strict_load = True`` (``tools/test.py`` does unless given
      ``--allow-partial-load``): a missing, unexpected or shape-mismatched
      key raises an error listing them. Otherwise (training) the matching
      weights are loaded and the mismatch is logged as a warning.
    * Automatic resume (``resume=True`` without ``load_from``) tries the
      checkpoints of the work dir newest first
      (:func:`~.checkpointing.resume_candidates`), logs a warning naming
      each one that cannot be loaded and resumes from the first that can,
      also when ``last_checkpoint`` names a missing or broken file. With no
      checkpoint at all training starts from scratch, as in mmengine; when
      there are checkpoints but none can be loaded it raises.

    Registered in ``mmdet3d.registry.RUNNERS``; the configs select it with
    ``runner_type = 'OccDepthRunner'`` (``configs/_base_/default_runtime.py``).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # checkpoints already read (and checked) by ``resume``, by file name
        self._read_ahead: Dict[str, dict] = {}

    def _checkpoint_filename_tmpl(self) -> str:
        for hook in self.hooks:
            if isinstance(hook, CheckpointHook):
                return hook.filename_tmpl
        return 'epoch_{}.pth'

    def _newest_resumable(self) -> Optional[str]:
        candidates = resume_candidates(self.work_dir,
                                       self._checkpoint_filename_tmpl())
        failures = []
        for path in candidates:
            try:
                checkpoint = read_checkpoint(path, get_device())
                check_resumable(checkpoint, path)
            except CheckpointError as exc:
                self.logger.warning(f'Cannot resume from {exc}; trying the '
                                    f'next older checkpoint')
                failures.append(str(exc))
                continue
            self._read_ahead[path] = checkpoint
            return path
        if failures:
            raise CheckpointError(
                f'{self.work_dir}: none of its checkpoints can be resumed '
                f'from: {"; ".join(failures)}')
        return None

    def load_or_resume(self) -> None:
        """Load ``load_from`` or resume, see the class description."""
        if self._has_loaded:
            return
        if self._resume and self._load_from is None:
            path = self._newest_resumable()
            if path is None:
                self.logger.info(f'No checkpoint to resume from in '
                                 f'{self.work_dir}: training starts from '
                                 f'scratch.')
                return
            self.logger.info(f'Auto resumed from the latest checkpoint '
                             f'{path}.')
            self.resume(path)
        elif self._resume:
            self.resume(self._load_from)
        elif self._load_from is not None:
            self.load_checkpoint(
                self._load_from, strict=self.cfg.get('strict_load', False))

    def resume(self,
               filename: str,
               resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: MapLocation = 'default') -> None:
        """``Runner.resume`` after checking that ``filename`` is a readable
        training checkpoint."""
        if filename not in self._read_ahead:
            location = (
                get_device() if map_location == 'default' else map_location)
            checkpoint = read_checkpoint(filename, location)
            check_resumable(checkpoint, filename)
            self._read_ahead[filename] = checkpoint
        super().resume(filename, resume_optimizer, resume_param_scheduler,
                       map_location)

    def load_checkpoint(self,
                        filename: str,
                        map_location: MapLocation = 'cpu',
                        strict: bool = False,
                        revise_keys: ReviseKeys = DEFAULT_REVISE_KEYS) -> dict:
        """Load the weights of ``filename`` into the model.

        Args:
            filename: Checkpoint file (or URI).
            map_location: Passed to ``torch.load``.
            strict: Raise :class:`~.checkpointing.CheckpointMismatchError`
                listing the keys when the weights do not fit the model
                exactly; otherwise load the matching ones and log the
                mismatch as a warning.
            revise_keys: ``(pattern, replacement)`` substitutions applied
                to the checkpoint's keys.

        Returns:
            The checkpoint dict.
        """
        checkpoint = self._read_ahead.pop(filename, None)
        if checkpoint is None:
            checkpoint = read_checkpoint(filename, map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(
            self.model) else self.model
        report = load_state_dict_checked(model,
                                         state_dict_of(checkpoint, filename),
                                         filename, strict, revise_keys)
        if report:
            self.logger.warning(f'Partial load: {report}')
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint
