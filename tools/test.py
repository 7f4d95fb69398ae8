"""Evaluate an OccDepth checkpoint: ``python tools/test.py CONFIG CKPT``."""
import argparse
import os
import os.path as osp
import sys
from typing import Optional, Sequence

# Idle OpenMP threads spin 1000 times before they sleep, not libgomp's
# 300000, which on a busy machine takes CPU time from the threads doing the
# work (projects/OccDepth/occdepth/engine/threads.py); libgomp reads it when
# torch loads it, so before any import of torch.
if 'OMP_WAIT_POLICY' not in os.environ:
    os.environ.setdefault('GOMP_SPINCOUNT', '1000')
# Make ``projects.OccDepth.occdepth`` importable when run as a script.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdet3d.registry import RUNNERS  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402

from projects.OccDepth.occdepth.engine.checkpointing import (  # noqa: E402
    CheckpointError, cli_error)
from projects.OccDepth.occdepth.engine.launch import (  # noqa: E402
    prepare_distributed, shutdown_distributed)
from projects.OccDepth.occdepth.engine.runner import \
    OccDepthRunner  # noqa: E402
from projects.OccDepth.occdepth.engine.threads import \
    configure_cpu_threads  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Evaluate an OccDepth model (SC IoU / SSC mIoU)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--show-dir',
        help='write PNG renders of prediction vs ground truth to this '
        'directory')
    parser.add_argument(
        '--submit-dir',
        help='write the predictions as SemanticKITTI .label files '
        '(sequences/NN/predictions/) and submission.zip to this directory; '
        'for the hidden test split add --cfg-options test_evaluator=[] '
        'test_dataloader.dataset.split=test')
    parser.add_argument(
        '--allow-partial-load',
        action='store_true',
        help='evaluate even when the checkpoint does not fit the model: '
        'load the matching weights, keep the others as initialised and log '
        'the mismatched keys (otherwise an error lists them)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    threads = configure_cpu_threads()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.strict_load = not args.allow_partial_load

    if args.show_dir:
        hooks = list(cfg.get('custom_hooks', []))
        hooks.append(dict(type='SSCVisualizationHook', out_dir=args.show_dir))
        cfg.custom_hooks = hooks
    if args.submit_dir:
        hooks = list(cfg.get('custom_hooks', []))
        hooks.append(dict(type='SSCSubmissionHook', out_dir=args.submit_dir))
        cfg.custom_hooks = hooks

    runner_cls = RUNNERS.get(cfg.get('runner_type', 'Runner'))
    if not (isinstance(runner_cls, type)
            and issubclass(runner_cls, OccDepthRunner)):
        # only OccDepthRunner checks that the checkpoint fits the model
        sys.exit(f'error: {args.config}: runner_type must be '
                 f'\'OccDepthRunner\' (configs/_base_/default_runtime.py), '
                 f'got {cfg.get("runner_type", "Runner")!r}')
    prepare_distributed(cfg)
    print_log(f'torch uses {threads} CPU thread(s) per process', 'current')
    runner = RUNNERS.build(cfg)
    try:
        runner.test()
    except CheckpointError as exc:
        sys.exit(cli_error(exc))
    shutdown_distributed()


if __name__ == '__main__':
    main()
