"""Tests of the SemanticKITTI submission writer, zipper, validator and hook.

The benchmark files are fixed at 256 x 256 x 32 (4 MB per ``.label``), so
the validator fixture keeps to one frame per test sequence (two in 11); the
metric and the ``tools/test.py`` runs use small synthetic grids.
"""
import importlib.util
import json
import os
import os.path as osp
import shutil
import sys
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmdet3d.registry import HOOKS
from mmdet3d.structures import Det3DDataSample

import projects.OccDepth.occdepth.engine.submission_hook  # noqa: F401
from projects.OccDepth.occdepth.datasets import io
from projects.OccDepth.occdepth.datasets.label_maps import (
    SEMANTICKITTI_CLASSES, SEMANTICKITTI_LEARNING_MAP)
from projects.OccDepth.occdepth.datasets.semantickitti import \
    SemanticKittiSSCDataset
from projects.OccDepth.occdepth.engine.submission_hook import SSCSubmissionHook
from projects.OccDepth.occdepth.evaluation.ssc_metric import SSCMetric
from projects.OccDepth.occdepth.evaluation.submission import (
    make_description, prediction_path, validate_submission,
    write_prediction_label, zip_submission)
from tools.dataset_converters import synthetic_kitti as sk

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KITTI = (256, 256, 32)
TEST_SEQS = tuple(f'{i:02d}' for i in range(11, 22))
FRAMES = {seq: ['000000'] for seq in TEST_SEQS}
FRAMES['11'] = ['000000', '000005']


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: on the shared 2-core machine two threads that
    wait for each other make the model's forward several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _load_tool(name):
    path = osp.join(ROOT, 'tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- writer


def test_write_prediction_label_raw_ids(tmp_path):
    pred = np.zeros(KITTI, dtype=np.int64)
    pred[0, 0, 0] = 1  # car -> 10
    pred[1, 2, 3] = 9  # road -> 40
    pred[255, 255, 31] = 19  # traffic-sign -> 81
    pred[7, 0, 5] = 5  # other-vehicle -> 20
    path = str(tmp_path / 'sequences/11/predictions/000000.label')
    write_prediction_label(path, torch.from_numpy(pred))
    assert os.path.getsize(path) == 4194304
    raw = np.fromfile(path, dtype=np.uint16)
    assert raw.size == 2097152
    # C order: index = (x * 256 + y) * 32 + z
    assert raw[0] == 10
    assert raw[(1 * 256 + 2) * 32 + 3] == 40
    assert raw[-1] == 81
    assert raw[(7 * 256 + 0) * 32 + 5] == 20
    assert np.count_nonzero(raw) == 4


def test_write_prediction_label_any_grid_and_every_class(tmp_path):
    pred = np.arange(20, dtype=np.uint8).reshape(1, 4, 5)
    path = str(tmp_path / 'small.label')
    write_prediction_label(path, pred, grid_size=None)
    raw = np.fromfile(path, dtype=np.uint16)
    assert raw.tolist() == [
        0, 10, 11, 15, 18, 20, 30, 31, 32, 40, 44, 48, 49, 50, 51, 70, 71, 72,
        80, 81
    ]


@pytest.mark.parametrize('pred,match', [
    (np.full((2, 2, 2), 255), r'outside 0\.\.19 \(255\)'),
    (np.full((2, 2, 2), -1), r'\(-1\)'),
    (np.full((2, 2, 2), 20), r'\(20\)'),
    (np.zeros((2, 2, 2), dtype=np.float32), 'integer training ids'),
    (np.zeros((2, 2)), 'integer training ids'),
    (np.zeros((8, 1), dtype=np.int64), '3D voxel grid'),
])
def test_write_prediction_label_errors(tmp_path, pred, match):
    path = str(tmp_path / 'x.label')
    with pytest.raises(ValueError, match=match):
        write_prediction_label(path, pred, grid_size=None)
    assert not os.path.exists(path)


def test_write_prediction_label_checks_benchmark_grid(tmp_path):
    with pytest.raises(ValueError, match=r'expected \(256, 256, 32\)'):
        write_prediction_label(
            str(tmp_path / 'x.label'), np.zeros((128, 128, 16), np.int64))


# ------------------------------------------------------ zip and validator


@pytest.fixture(scope='module')
def benchmark(tmp_path_factory):
    """A test-split dataset (``voxels/*.bin`` only) and its predictions."""
    base = tmp_path_factory.mktemp('benchmark')
    dataset = base / 'dataset'
    preds = base / 'preds'
    zeros = np.zeros(KITTI, dtype=np.uint8)
    for seq, frames in FRAMES.items():
        voxel_dir = dataset / 'sequences' / seq / 'voxels'
        voxel_dir.mkdir(parents=True)
        for frame in frames:
            io.write_voxel_bits(str(voxel_dir / f'{frame}.bin'), zeros)
            write_prediction_label(
                str(preds / 'sequences' / seq / 'predictions' /
                    f'{frame}.label'), zeros)
    good = str(base / 'good.zip')
    count = zip_submission(
        str(preds), good, description=make_description('OccDepth'))
    assert count == 12
    return SimpleNamespace(
        dataset=str(dataset), preds=str(preds), good=good, base=base)


def _rewrite(src, dst, drop=(), add=None, dirs=True):
    """Copy a zip without ``drop``, with ``add`` and maybe no dir entries."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
        for info in zin.infolist():
            if info.filename in drop or (not dirs and info.is_dir()):
                continue
            zout.writestr(info, zin.read(info.filename))
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def test_zip_layout(benchmark):
    with zipfile.ZipFile(benchmark.good) as zf:
        names = zf.namelist()
        assert names[:4] == [
            'sequences/', 'sequences/11/', 'sequences/11/predictions/',
            'sequences/11/predictions/000000.label'
        ]
        assert all(zf.getinfo(n).is_dir() for n in names[:3])
        assert zf.read('description.txt').decode() == (
            'name: OccDepth\npdf url: \ncode url: \n')
        info = zf.getinfo('sequences/21/predictions/000000.label')
        assert info.file_size == 4194304
        assert info.compress_type == zipfile.ZIP_DEFLATED
    assert len(names) == 1 + 11 * 2 + 12 + 1


def test_valid_submission_passes(benchmark, capsys):
    assert validate_submission(benchmark.good, benchmark.dataset) == []
    tool = _load_tool('validate_submission')
    assert tool.main(
        [benchmark.good, benchmark.dataset, '--task', 'completion']) == 0
    assert 'is a valid completion submission' in capsys.readouterr().out


def test_wrong_extension(benchmark, capsys):
    path = str(benchmark.base / 'submission.zp')
    shutil.copy(benchmark.good, path)
    errors = validate_submission(path, benchmark.dataset)
    assert len(errors) == 1
    assert 'must end in .zip' in errors[0]
    tool = _load_tool('validate_submission')
    assert tool.main([path, benchmark.dataset]) == 1
    assert 'must end in .zip' in capsys.readouterr().out


def test_zip_without_directory_entries(benchmark):
    path = _rewrite(
        benchmark.good, str(benchmark.base / 'nodirs.zip'), dirs=False)
    errors = validate_submission(path, benchmark.dataset)
    assert len(errors) == 1 + 2 * 11
    assert all('directory entry' in e for e in errors)
    assert 'directory entry "sequences/" is missing' in errors[0]
    assert 'directory entry "sequences/21/predictions/" is missing' in \
        errors[-1]


def test_missing_label(benchmark):
    name = 'sequences/11/predictions/000005.label'
    path = _rewrite(
        benchmark.good, str(benchmark.base / 'missing.zip'), drop={name})
    errors = validate_submission(path, benchmark.dataset)
    assert len(errors) == 1
    assert f'prediction "{name}" is missing' in errors[0]


def test_wrong_size(benchmark):
    name = 'sequences/15/predictions/000000.label'
    path = _rewrite(
        benchmark.good,
        str(benchmark.base / 'size.zip'),
        drop={name},
        add={name: b'\0' * 100})
    errors = validate_submission(path, benchmark.dataset)
    assert len(errors) == 1
    assert f'"{name}" has 100 bytes (50 labels), expected 4194304' in \
        errors[0]


@pytest.mark.parametrize('extra', [
    'readme.txt', 'sequences/11/predictions/000010.label',
    'sequences/08/predictions/000000.label'
])
def test_extra_file(benchmark, extra):
    path = _rewrite(
        benchmark.good,
        str(benchmark.base / 'extra.zip'),
        add={extra: b'\0' * 4194304})
    errors = validate_submission(path, benchmark.dataset)
    assert errors == [
        f'{path}: unexpected entry "{extra}" (only '
        'sequences/NN/predictions/*.label of the dataset\'s frames and '
        'description.txt are allowed)'
    ]


def test_not_a_zip_and_missing_inputs(benchmark, tmp_path):
    path = str(tmp_path / 'fake.zip')
    with open(path, 'w') as f:
        f.write('not a zip')
    errors = validate_submission(path, benchmark.dataset)
    assert len(errors) == 1 and 'not a zip archive' in errors[0]
    with pytest.raises(FileNotFoundError, match='submission file not found'):
        validate_submission(str(tmp_path / 'none.zip'), benchmark.dataset)
    with pytest.raises(FileNotFoundError, match='sequences/08/voxels'):
        validate_submission(benchmark.good, benchmark.dataset, ['08'])


def test_many_missing_predictions_are_summarised(benchmark, tmp_path):
    voxel_dir = tmp_path / 'sequences' / '11' / 'voxels'
    voxel_dir.mkdir(parents=True)
    for i in range(13):
        (voxel_dir / f'{5 * i:06d}.bin').touch()
    errors = validate_submission(benchmark.good, str(tmp_path), ['11'])
    # 000000 and 000005 are in the zip; 11 missing = 10 named + 1 summary
    assert 'prediction "sequences/11/predictions/000010.label"' in errors[0]
    assert errors[10] == '... and 1 more missing predictions in sequence 11'
    # sequences 12-21 are extra when only 11 is checked: 30 entries
    assert all('unexpected entry' in e for e in errors[11:21])
    assert errors[21:] == ['... and 20 more unexpected entries']


def test_zip_submission_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='sequences'):
        zip_submission(str(tmp_path), str(tmp_path / 'a.zip'))
    pred_dir = tmp_path / 'sequences' / '11' / 'predictions'
    pred_dir.mkdir(parents=True)
    with pytest.raises(ValueError, match='no .label files'):
        zip_submission(str(tmp_path), str(tmp_path / 'a.zip'))
    (pred_dir / '000000.label').write_bytes(b'\0\0')
    with pytest.raises(ValueError, match=r'must end in \.zip|ending in'):
        zip_submission(str(tmp_path), str(tmp_path / 'a.tar'))
    (pred_dir / '000000.npy').write_bytes(b'')
    with pytest.raises(ValueError, match='000000.npy'):
        zip_submission(str(tmp_path), str(tmp_path / 'a.zip'))


def test_make_submission_tool(benchmark, tmp_path, capsys):
    tool = _load_tool('make_submission')
    out = str(tmp_path / 'sub.zip')
    assert tool.main([
        benchmark.preds, '--out', out, '--name', 'OccDepth', '--code-url',
        'https://example.org/occdepth', '--dataset-root', benchmark.dataset
    ]) == 0
    assert 'is a valid submission' in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        assert 'code url: https://example.org/occdepth' in zf.read(
            'description.txt').decode()
    assert tool.main([str(tmp_path / 'nothing')]) == 1
    assert 'folder not found' in capsys.readouterr().err


# ------------------------------------------------------------------ hook


def _sample(seq, frame, pred, grid_size):
    sample = Det3DDataSample(
        metainfo=dict(sequence=seq, frame_id=frame, grid_size=grid_size))
    sample.pred_occ = torch.as_tensor(pred)
    return sample


def test_hook_writes_layout_and_zip(tmp_path):
    assert HOOKS.get('SSCSubmissionHook') is SSCSubmissionHook
    grid = (4, 2, 2)
    preds = [
        np.arange(16).reshape(grid) % 20,
        np.full(grid, 9),
    ]
    out = str(tmp_path / 'submit')
    hook = SSCSubmissionHook(out)
    runner = SimpleNamespace()
    hook.before_test(runner)
    hook.after_test_iter(
        runner,
        0,
        outputs=[
            _sample('08', '000000', preds[0], grid),
            _sample('08', '000005', preds[1], grid)
        ])
    hook.after_test_epoch(runner, metrics={})
    raw0 = np.fromfile(
        osp.join(out, 'sequences/08/predictions/000000.label'), np.uint16)
    assert raw0[:4].tolist() == [0, 10, 11, 15]
    raw1 = np.fromfile(
        osp.join(out, 'sequences/08/predictions/000005.label'), np.uint16)
    assert (raw1 == 40).all() and raw1.size == 16
    with zipfile.ZipFile(osp.join(out, 'submission.zip')) as zf:
        assert zf.namelist() == [
            'sequences/', 'sequences/08/', 'sequences/08/predictions/',
            'sequences/08/predictions/000000.label',
            'sequences/08/predictions/000005.label'
        ]
    # a second run into the same folder would mix two runs in the zip
    with pytest.raises(ValueError, match='earlier run'):
        SSCSubmissionHook(out).before_test(runner)


def test_hook_errors(tmp_path):
    hook = SSCSubmissionHook(str(tmp_path))
    sample = Det3DDataSample(metainfo=dict(sequence='08'))
    sample.pred_occ = torch.zeros(2, 2, 2, dtype=torch.long)
    with pytest.raises(ValueError, match='frame_id'):
        hook.after_test_iter(None, 3, outputs=[sample])
    with pytest.raises(ValueError, match=r'expected \(2, 2, 4\)'):
        hook.after_test_iter(
            None,
            0,
            outputs=[_sample('08', '0', np.zeros((2, 2, 2), int), (2, 2, 4))])


# ------------------------------------------------ output containment


@pytest.mark.parametrize('seq, frame, bad', [('../../../x', '000000', "'../"),
                                             ('..', '000000', "'..'"),
                                             ('08', 'ABS', "'/"),
                                             ('08', 'a/../../b', "'a/"),
                                             ('08', 'a\\b', "'a"),
                                             ('', '000000', "''")])
def test_hook_refuses_names_leaving_out_dir(tmp_path, seq, frame, bad):
    out = tmp_path / 'sub' / 'inner'
    frame = str(tmp_path / 'abs') if frame == 'ABS' else frame
    hook = SSCSubmissionHook(str(out))
    hook.before_test(None)
    pred = np.zeros((2, 2, 2), dtype=np.int64)
    with pytest.raises(ValueError, match='is not a plain file name') as exc:
        hook.after_test_iter(
            None, 0, outputs=[_sample(seq, frame, pred, (2, 2, 2))])
    assert bad in str(exc.value)
    written = [
        osp.join(d, f) for d, _, files in os.walk(tmp_path) for f in files
    ]
    assert written == []


def test_prediction_path_stays_inside_out_dir(tmp_path):
    out = tmp_path / 'sub'
    assert prediction_path(str(out), 8, '000005') == osp.join(
        str(out), 'sequences', '8', 'predictions', '000005.label')
    # a link inside the folder that leads out of it is refused as well
    (tmp_path / 'elsewhere').mkdir()
    out.mkdir()
    os.symlink(tmp_path / 'elsewhere', out / 'sequences')
    with pytest.raises(
            ValueError,
            match=r'000005\.label resolves to .*elsewhere.*, '
            r'outside the output folder'):
        prediction_path(str(out), '08', '000005')


def test_zip_refuses_symlinks(tmp_path, capsys):
    secret = tmp_path / 'secret.label'
    secret.write_bytes(b'secret')
    root = tmp_path / 'preds'
    pred_dir = root / 'sequences' / '11' / 'predictions'
    pred_dir.mkdir(parents=True)
    (pred_dir / '000000.label').write_bytes(b'\0\0')
    os.symlink(secret, pred_dir / '000005.label')
    out = tmp_path / 'sub.zip'
    with pytest.raises(
            ValueError,
            match=r'000005\.label is a symbolic link \(to .*'
            r'secret\.label\)'):
        zip_submission(str(root), str(out))
    assert not out.exists()
    tool = _load_tool('make_submission')
    assert tool.main([str(root), '--out', str(out)]) == 1
    assert 'is a symbolic link' in capsys.readouterr().err
    assert not out.exists()
    # a linked sequence folder is refused too
    os.remove(pred_dir / '000005.label')
    os.symlink(root / 'sequences' / '11', root / 'sequences' / '12')
    with pytest.raises(ValueError, match=r'sequences/12 is a symbolic link'):
        zip_submission(str(root), str(out))


def test_validate_refuses_sequence_names_with_separators(tmp_path, capsys):
    with pytest.raises(ValueError, match="sequence name '../11'"):
        validate_submission(str(tmp_path / 'x.zip'), str(tmp_path), ['../11'])
    tool = _load_tool('validate_submission')
    assert tool.main(
        [str(tmp_path / 'x.zip'),
         str(tmp_path), '--sequences', '../11']) == 1
    assert "sequence name '../11'" in capsys.readouterr().err


# ---------------------------------------- metric vs evaluate_completion.py


def evaluate_completion(pred_root, dataset_root, sequences, grid_size):
    """The benchmark's evaluate_completion.py, written from its description.

    Raw ids of GT and prediction go through one LUT (learning map, raw ids
    mapped to 0 -> 255, then raw 0 -> 0); voxels with GT 255 or
    ``.invalid`` set are dropped; one confusion matrix (rows = prediction)
    over the split gives the scores.
    """
    keys = max(SEMANTICKITTI_LEARNING_MAP)
    lut = np.zeros(keys + 100, dtype=np.int32)
    for raw, train in SEMANTICKITTI_LEARNING_MAP.items():
        lut[raw] = train
    lut[lut == 0] = 255
    lut[0] = 0
    conf = np.zeros((20, 20), dtype=np.int64)
    n = int(np.prod(grid_size))
    for seq in sequences:
        voxel_dir = osp.join(dataset_root, 'sequences', seq, 'voxels')
        for name in sorted(os.listdir(voxel_dir)):
            if not name.endswith('.label'):
                continue
            frame = name[:-6]
            gt = np.fromfile(osp.join(voxel_dir, name), dtype=np.uint16)
            packed = np.fromfile(
                osp.join(voxel_dir, frame + '.invalid'), dtype=np.uint8)
            invalid = np.zeros(n, dtype=np.uint8)
            for bit in range(8):
                invalid[bit::8] = (packed >> (7 - bit)) & 1
            pred_file = osp.join(pred_root, 'sequences', seq, 'predictions',
                                 name)
            if not osp.isfile(pred_file):
                raise RuntimeError(f'{pred_file} missing')
            pred = np.fromfile(pred_file, dtype=np.uint16)
            gt, pred = lut[gt], lut[pred]
            mask = (gt != 255) & (invalid != 1)
            np.add.at(conf, (pred[mask], gt[mask]), 1)
    tp = np.diag(conf).astype(np.float64)
    iou = tp / (conf.sum(0) + conf.sum(1) - tp + 1e-15)
    return dict(
        iou=iou,
        miou=iou[1:].mean(),
        iou_completion=conf[1:, 1:].sum() / (conf.sum() - conf[0, 0]),
        precision=conf[1:, 1:].sum() / conf[1:, :].sum(),
        recall=conf[1:, 1:].sum() / conf[:, 1:].sum())


def _assert_same_scores(metrics, ref):
    assert metrics['mIoU'] == pytest.approx(100 * ref['miou'], abs=1e-9)
    assert metrics['SC_IoU'] == pytest.approx(
        100 * ref['iou_completion'], abs=1e-9)
    assert metrics['SC_Precision'] == pytest.approx(
        100 * ref['precision'], abs=1e-9)
    assert metrics['SC_Recall'] == pytest.approx(100 * ref['recall'], abs=1e-9)
    for name, iou in zip(SEMANTICKITTI_CLASSES, ref['iou']):
        assert metrics[f'IoU_{name}'] == pytest.approx(100 * iou, abs=1e-9)


def test_metric_equals_benchmark_on_written_labels(tmp_path):
    grid = (64, 64, 8)
    data_root = str(tmp_path / 'kitti')
    sk.generate_dataset(
        data_root,
        sequences=('08', ),
        frames=2,
        image_size=(24, 80),
        grid_size=grid,
        voxel_size=0.8)
    dataset = SemanticKittiSSCDataset(
        data_root,
        sequences=['08'],
        pipeline=[dict(type='LoadSSCLabels')],
        test_mode=True,
        grid_size=grid,
        voxel_size=0.8)
    rng = np.random.default_rng(0)
    out = str(tmp_path / 'submit')
    hook = SSCSubmissionHook(out)
    metric = SSCMetric(num_classes=20)
    hook.before_test(None)
    num_ignored = 0
    for i in range(len(dataset)):
        data = dataset[i]
        gt = data['gt_occ']
        num_ignored += int((gt == 255).sum())
        pred = np.where(gt == 255, 0, gt).astype(np.int64)
        flip = rng.random(grid) < 0.3
        pred[flip] = rng.integers(0, 20, size=int(flip.sum()))
        sample = _sample('08', data['frame_id'], pred, grid)
        hook.after_test_iter(None, i, outputs=[sample])
        metric.process(
            None,
            [dict(gt_occ=torch.from_numpy(gt), pred_occ=sample.pred_occ)])
    hook.after_test_epoch(None, metrics={})
    assert num_ignored > 0  # invalid voxels and ignored classes present
    metrics = metric.compute_metrics(metric.results)
    ref = evaluate_completion(out, data_root, ['08'], grid)
    assert 0 < ref['miou'] < 1
    _assert_same_scores(metrics, ref)
    assert validate_submission(
        osp.join(out, 'submission.zip'), data_root, ['08'], grid) == []


# ------------------------------------------------ tools/test.py end to end


@pytest.fixture
def demo_checkpoint(tmp_path):
    from mmdet3d.registry import MODELS
    from mmengine.config import Config
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/occdepth_demo.py'))
    model = MODELS.build(cfg.model)
    path = str(tmp_path / 'untrained.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def _run_test_tool(monkeypatch, tmp_path, checkpoint, submit_dir, options):
    tool = _load_tool('test')
    monkeypatch.setattr(sys, 'argv', [
        'test.py',
        osp.join(ROOT, 'configs/occdepth_demo.py'), checkpoint, '--work-dir',
        str(tmp_path / 'work'), '--submit-dir', submit_dir, '--cfg-options',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False', 'log_level=WARNING',
        *options
    ])
    tool.main()


def test_test_tool_submit_dir_on_hidden_test_split(tmp_path, monkeypatch,
                                                   demo_checkpoint):
    data_root = str(tmp_path / 'kitti')
    sk.generate_dataset(
        data_root,
        sequences=('11', ),
        frames=1,
        image_size=(96, 320),
        grid_size=(128, 128, 16),
        voxel_size=0.4)
    voxel_dir = osp.join(data_root, 'sequences/11/voxels')
    for ext in ('label', 'invalid', 'occluded'):
        os.remove(osp.join(voxel_dir, f'000000.{ext}'))  # as on the server
    submit = str(tmp_path / 'submit')
    _run_test_tool(monkeypatch, tmp_path, demo_checkpoint, submit, [
        f'test_dataloader.dataset.data_root={data_root}',
        'test_dataloader.dataset.sequences=[11]', 'test_evaluator=[]'
    ])
    raw = np.fromfile(
        osp.join(submit, 'sequences/11/predictions/000000.label'), np.uint16)
    assert raw.size == 128 * 128 * 16
    assert set(np.unique(raw)) <= {
        0, 10, 11, 15, 18, 20, 30, 31, 32, 40, 44, 48, 49, 50, 51, 70, 71, 72,
        80, 81
    }
    zip_path = osp.join(submit, 'submission.zip')
    assert validate_submission(zip_path, data_root, ['11'],
                               (128, 128, 16)) == []
    # the benchmark's grid is 256 x 256 x 32: this one cannot be uploaded
    errors = validate_submission(zip_path, data_root, ['11'])
    assert len(errors) == 1 and 'expected 4194304' in errors[0]


def test_test_tool_submit_dir_val_scores_like_benchmark(
        tmp_path, monkeypatch, demo_checkpoint):
    grid = (128, 128, 16)
    data_root = str(tmp_path / 'kitti')
    sk.generate_dataset(
        data_root,
        sequences=('08', ),
        frames=1,
        image_size=(96, 320),
        grid_size=grid,
        voxel_size=0.4)
    submit = str(tmp_path / 'submit')
    _run_test_tool(monkeypatch, tmp_path, demo_checkpoint, submit,
                   [f'test_dataloader.dataset.data_root={data_root}'])
    logs = [
        osp.join(d, f) for d, _, files in os.walk(tmp_path / 'work')
        for f in files if f.endswith('.json')
    ]
    assert len(logs) == 1
    with open(logs[0]) as f:
        metrics = json.load(f)
    ref = evaluate_completion(submit, data_root, ['08'], grid)
    assert ref['iou_completion'] > 0
    _assert_same_scores(metrics, ref)
