"""mmengine's CheckpointHook with crash-safe writes."""
import os
import os.path as osp
from typing import List

from mmdet3d.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook

from projects.OccDepth.occdepth.engine.checkpointing import (atomic_output,
                                                             remove_temp_files,
                                                             write_text_atomic)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """Save checkpoints so that a crash at any moment leaves one to resume
    from.

    Takes the arguments of mmengine's ``CheckpointHook``. mmengine 0.10's
    hook deletes the oldest kept checkpoint (and the previous best one)
    before it writes the new one, writes straight into the final file and
    then rewrites ``last_checkpoint`` in place; a process killed meanwhile
    leaves a partial file and a ``last_checkpoint`` that names a deleted
    one. This hook, for every checkpoint it writes (``epoch_N.pth`` /
    ``iter_N.pth`` and ``best_<metric>_*.pth``):

    1. writes it to ``.<name>.<pid>.tmp`` in the same folder, fsyncs it and
       renames it into place (:func:`~.checkpointing.atomic_output`);
    2. then replaces ``work_dir/last_checkpoint`` the same way;
    3. only then deletes the checkpoints that fell out of ``max_keep_ckpts``
       and the previous best checkpoint.

    Temporary files left by a killed write are removed when training
    starts. Checkpoints must go to a local folder.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not isinstance(self.file_backend, LocalBackend):
            raise ValueError(
                f'{type(self).__name__} writes checkpoints atomically to a '
                f'local folder; {self.out_dir} uses '
                f'{type(self.file_backend).__name__}')
        if is_main_process():
            for folder in sorted({self.out_dir, runner.work_dir}):
                for path in remove_temp_files(folder):
                    runner.logger.info(
                        f'Removed {path}, left by an interrupted write')

    def _write(self, runner, filename: str, **kwargs) -> None:
        """``runner.save_checkpoint`` to ``filename``, atomically."""
        # Runner.save_checkpoint writes on the main process only
        if not is_main_process():
            return
        with atomic_output(osp.join(self.out_dir, filename)) as temp:
            runner.save_checkpoint(
                self.out_dir,
                osp.basename(temp),
                backend_args=self.backend_args,
                **kwargs)

    def _remove(self, path: str) -> bool:
        if is_main_process() and osp.isfile(path):
            os.remove(path)
            return True
        return False

    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: dict) -> None:
        outdated: List[int] = []
        # the best-checkpoint path saves the same step a second time
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        self._write(
            runner,
            filename,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            **self.args)
        if is_main_process():
            write_text_atomic(
                osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old in outdated:
            self._remove(
                osp.join(self.out_dir, self.filename_tmpl.format(old)))

    def _save_best_checkpoint(self, runner, metrics: dict) -> None:
        if not self.save_best:
            return
        # called after the loop advanced the counter: the step just finished
        step = runner.epoch if self.by_epoch else runner.iter
        unit = 'epoch' if self.by_epoch else 'iter'
        filename = self.filename_tmpl.format(step)
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        if 'auto' in self.key_indicators:
            self._init_rule(self.rules, [next(iter(metrics))])
        single = len(self.key_indicators) == 1
        info = runner.message_hub.runtime_info

        updated = False
        for key, rule in zip(self.key_indicators, self.rules):
            score_key = 'best_score' if single else f'best_score_{key}'
            path_key = 'best_ckpt' if single else f'best_ckpt_{key}'
            best = info.get(score_key, self.init_value_map[rule])
            score = metrics[key]
            if score is None or not self.is_better_than[key](score, best):
                continue
            updated = True
            runner.message_hub.update_info(score_key, score)
            name = f'best_{key}_{filename}'.replace('/', '_')
            path = osp.join(self.out_dir, name)
            if single:
                previous, self.best_ckpt_path = self.best_ckpt_path, path
            else:
                previous = self.best_ckpt_path_dict[key]
                self.best_ckpt_path_dict[key] = path
            runner.message_hub.update_info(path_key, path)
            self._write(
                runner,
                name,
                save_optimizer=False,
                save_param_scheduler=False,
                meta=meta,
                by_epoch=False)
            if previous and previous != path and self._remove(previous):
                runner.logger.info(
                    f'The previous best checkpoint {previous} is removed')
            runner.logger.info(
                f'The best checkpoint with {score:0.4f} {key} at {step} '
                f'{unit} is saved to {name}.')

        # save the regular checkpoint again so that the best score and path
        # it holds in its message hub are the new ones (as mmengine does)
        if updated and self.last_ckpt is not None:
            self._save_checkpoint_with_step(runner, step, meta)
