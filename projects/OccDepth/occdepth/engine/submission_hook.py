"""SSCSubmissionHook: benchmark ``.label`` files and zip from a test run."""
import logging
import os
import os.path as osp
from typing import Optional, Sequence

from mmdet3d.registry import HOOKS
from mmengine.dist import barrier, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from projects.OccDepth.occdepth.datasets.io import KITTI_GRID_SIZE
from projects.OccDepth.occdepth.evaluation.submission import (
    prediction_path, write_prediction_label, zip_submission)


@HOOKS.register_module()
class SSCSubmissionHook(Hook):
    """Write every test prediction in the SemanticKITTI submission layout.

    After each test iteration, the ``pred_occ`` of every sample is written
    to ``{out_dir}/sequences/{sequence}/predictions/{frame_id}.label``
    (uint16 raw SemanticKITTI ids, see ``write_prediction_label`` in
    ``evaluation/submission.py``). After the test epoch the tree is zipped
    to ``{out_dir}/submission.zip`` with the directory entries the
    benchmark requires. Sequence names and frame ids must be plain file
    names and every written path must resolve inside ``out_dir`` (see
    ``prediction_path``); symbolic links in the tree are refused by the
    zipper. Any split works: on the validation sequence 08 the
    benchmark's ``evaluate_completion.py`` can score the folder.
    ``tools/test.py --submit-dir DIR`` adds this hook. For the hidden test
    split (no ground truth) run without a metric, e.g. ``--cfg-options
    test_evaluator=[] test_dataloader.dataset.split=test``, then check the
    zip with ``tools/validate_submission.py``.

    Args:
        out_dir: Output folder. It must not hold ``.label`` files of an
            earlier run, which would end up in the zip.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.zip_path = osp.join(out_dir, 'submission.zip')
        self._warned_grid = False

    def before_test(self, runner) -> None:
        """Refuse an output folder that already holds predictions."""
        if is_main_process():
            root = osp.join(self.out_dir, 'sequences')
            stale = []
            if osp.isdir(root):
                for dirpath, _, files in os.walk(root):
                    stale += [f for f in files if f.endswith('.label')]
            if stale:
                raise ValueError(
                    f'{root} already holds {len(stale)} .label files of an '
                    f'earlier run; they would end up in the submission. '
                    f'Choose an empty output folder or delete them.')
        barrier()

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        """Write one ``.label`` file per sample of the batch."""
        for sample in outputs or ():
            meta = sample.metainfo
            missing = [k for k in ('sequence', 'frame_id') if k not in meta]
            if missing:
                raise ValueError(
                    f'SSCSubmissionHook: test sample {batch_idx} has no '
                    f'{" / ".join(missing)} in its metainfo; PackSSCInputs '
                    f'must keep them to name the .label file')
            pred = sample.pred_occ
            grid_size = tuple(meta.get('grid_size', pred.shape))
            if grid_size != KITTI_GRID_SIZE and not self._warned_grid:
                self._warned_grid = True
                print_log(
                    f'SSCSubmissionHook: the grid {grid_size} is not the '
                    f'benchmark\'s {KITTI_GRID_SIZE}; the files can be '
                    f'scored locally but not submitted',
                    logger='current',
                    level=logging.WARNING)
            try:
                path = prediction_path(self.out_dir, meta['sequence'],
                                       meta['frame_id'])
            except ValueError as exc:
                raise ValueError(
                    f'SSCSubmissionHook: test sample {meta["sequence"]!r}/'
                    f'{meta["frame_id"]!r}: {exc}') from exc
            write_prediction_label(path, pred, grid_size=grid_size)

    def after_test_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        """Zip the predictions of all ranks to ``{out_dir}/submission.zip``."""
        barrier()
        if not is_main_process():
            return
        count = zip_submission(self.out_dir, self.zip_path)
        print_log(
            f'SSCSubmissionHook: wrote {count} predictions to '
            f'{self.zip_path}; check it with python '
            f'tools/validate_submission.py {self.zip_path} DATASET_ROOT',
            logger='current')
