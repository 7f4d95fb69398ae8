"""Train and evaluate ablation configs over seeds; one table and one chart.

Example (the synthetic stereo benchmark, README "The paper's ablations on
the synthetic benchmark")::

    python tools/analysis_tools/ablation_study.py \\
        configs/ablations/synthetic/{full,mono,mean,no_oad}.py \\
        --seeds 3 --work-dir work_dirs/ablation --jobs 2 --threads 1

Each (config, seed) trains in its own process under
``WORK/<config>/seed_<S>`` with ``randomness.seed=S``, then evaluates on
the config's held-out split; a run with a ``result.json`` is not repeated,
an unfinished one resumes from its last checkpoint. Writes
``WORK/ablation.{md,json,png}`` from every finished run
(``projects/OccDepth/occdepth/engine/ablation.py``); ``--collect-only``
writes them without starting any run.
"""
import argparse
import os
import os.path as osp
import sys

# Idle OpenMP threads spin 1000 times before they sleep, not libgomp's
# 300000 (projects/OccDepth/occdepth/engine/threads.py); libgomp reads it
# when torch loads it, so before any import of torch.
if 'OMP_WAIT_POLICY' not in os.environ:
    os.environ.setdefault('GOMP_SPINCOUNT', '1000')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from projects.OccDepth.occdepth.engine import ablation  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+', help='config files')
    parser.add_argument(
        '--seeds',
        type=int,
        default=3,
        help='seeds 0 .. N-1 for every config (default: 3)')
    parser.add_argument(
        '--work-dir', required=True, help='root of the runs and the table')
    parser.add_argument(
        '--jobs', type=int, default=1, help='runs at once (default: 1)')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch threads of each run (default: 1)')
    parser.add_argument(
        '--collect-only',
        action='store_true',
        help='start no run: write the table of the runs that finished '
        '(e.g. of an interrupted study)')
    parser.add_argument(
        '--run-one',
        nargs=3,
        metavar=('CONFIG', 'SEED', 'RUN_DIR'),
        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.run_one is not None:
        config, seed, run_dir = args.run_one
        ablation.train_and_evaluate(config, int(seed), run_dir, args.threads)
        return
    if args.seeds < 1:
        sys.exit(f'error: --seeds must be at least 1, got {args.seeds}')
    missing = [c for c in args.configs if not osp.isfile(c)]
    if missing:
        sys.exit(f'error: config file(s) not found: {missing}')
    names = [ablation.config_name(c) for c in args.configs]
    if len(set(names)) != len(names):
        sys.exit(f'error: two configs share a file name (their runs would '
                 f'share a work dir): {names}')
    seeds = list(range(args.seeds))

    def command(config, seed, run_dir):
        return [
            sys.executable,
            osp.abspath(__file__), config, '--work-dir', args.work_dir,
            '--threads',
            str(args.threads), '--run-one', config,
            str(seed), run_dir
        ]

    os.environ.setdefault('OMP_NUM_THREADS', str(args.threads))
    failed = []
    if not args.collect_only:
        failed = ablation.run_study(
            args.configs, seeds, args.work_dir, command, jobs=args.jobs)
    table = ablation.summarize(
        ablation.collect_results(args.configs, seeds, args.work_dir))
    if table:
        print(ablation.format_table(table))
        for path in ablation.write_report(table, args.work_dir):
            print(f'wrote {path}')
    else:
        print(f'no run has finished under {args.work_dir}: no table')
    if failed:
        runs = ', '.join(f'{ablation.config_name(c)} seed {s}'
                         for c, s in failed)
        sys.exit(f'error: {len(failed)} run(s) failed: {runs} (see their '
                 f'run.log)')


if __name__ == '__main__':
    main()
