"""Evaluate an OccDepth checkpoint: ``python tools/test.py CONFIG CKPT``."""
import argparse
import os
import os.path as osp
import sys

# Make ``projects.OccDepth.occdepth`` importable when run as a script.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from projects.OccDepth.occdepth.engine.launch import (  # noqa: E402
    prepare_cpu_distributed, shutdown_distributed)


def parse_args() -> argparse.Namespace:
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
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main() -> None:
    args = parse_args()
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

    if args.show_dir:
        hooks = list(cfg.get('custom_hooks', []))
        hooks.append(dict(type='SSCVisualizationHook', out_dir=args.show_dir))
        cfg.custom_hooks = hooks
    if args.submit_dir:
        hooks = list(cfg.get('custom_hooks', []))
        hooks.append(dict(type='SSCSubmissionHook', out_dir=args.submit_dir))
        cfg.custom_hooks = hooks

    prepare_cpu_distributed(cfg)
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.test()
    shutdown_distributed()


if __name__ == '__main__':
    main()
