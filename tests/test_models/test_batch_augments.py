"""Batch augmentations on normalised views (the released strong aug)."""
import math
import os.path as osp

import pytest
import torch
from mmdet3d.registry import MODELS
from mmengine.config import Config

from projects.OccDepth.occdepth.models.batch_augments import (
    BatchErasing, BatchGaussianBlur, BatchGrayscale)
from projects.OccDepth.occdepth.models.data_preprocessor import \
    SSCDataPreprocessor

# the authors' use_strong_img_aug: per view, p 0.3 blur; p 0.3 branch of
# grayscale p 0.1 and erasing p 0.5 (the statistics below check these
# probabilities on the config's own list)
RELEASED_STRONG_AUG = Config.fromfile(
    osp.join(
        osp.dirname(__file__), '..', '..', 'configs',
        'occdepth_kitti_released_strongimgaug.py')
).model.data_preprocessor.batch_augments


def binomial_ok(count: int, n: int, p: float, sds: float = 5.0) -> bool:
    """``count`` successes of ``n`` draws within ``sds`` binomial sds."""
    return abs(count - n * p) <= sds * math.sqrt(n * p * (1 - p))


def test_blur_draws():
    torch.manual_seed(0)
    n = 20000
    params = BatchGaussianBlur(prob=0.3, sigma=(0.1, 2.0)).draw(n)
    assert binomial_ok(int(params['apply'].sum()), n, 0.3)
    sigma = params['sigma']
    assert sigma.min() >= 0.1 and sigma.max() <= 2.0
    # uniform on [0.1, 2]: mean 1.05, sd 1.9 / sqrt(12)
    assert abs(sigma.mean().item() - 1.05) < 5 * 1.9 / math.sqrt(12 * n)


def test_blur_values_by_hand():
    blur = BatchGaussianBlur(prob=1.0, kernel_size=3, sigma=(1.0, 1.0))
    imgs = torch.zeros(1, 3, 5, 5)
    imgs[0, :, 2, 2] = 1.0
    imgs[0, 1] += 2.0  # a constant channel stays constant
    out = blur(imgs)
    # g = (e^-1/2, 1, e^-1/2) / (1 + 2 e^-1/2)
    e = math.exp(-0.5)
    g0, g1 = e / (1 + 2 * e), 1 / (1 + 2 * e)
    assert out[0, 0, 2, 2].item() == pytest.approx(g1 * g1, abs=1e-6)
    assert out[0, 0, 2, 3].item() == pytest.approx(g1 * g0, abs=1e-6)
    assert out[0, 0, 1, 1].item() == pytest.approx(g0 * g0, abs=1e-6)
    assert out[0, 0, 0, 0].item() == 0
    # reflect padding: the borders of channel 1 see the same impulse
    assert out[0, 1, 0, 0].item() == pytest.approx(2.0, abs=1e-6)
    assert out[0, 1, 2, 2].item() == pytest.approx(2 + g1 * g1, abs=1e-6)
    # prob 0: untouched
    assert torch.equal(BatchGaussianBlur(prob=0.0)(imgs), imgs)


def test_grayscale_mixes_normalised_channels():
    imgs = torch.tensor([-1.0, 0.5, 2.0]).view(1, 3, 1, 1).expand(2, 3, 1,
                                                                  2).clone()
    out = BatchGrayscale(prob=1.0)(imgs, torch.tensor([True, False]))
    gray = 0.2989 * -1.0 + 0.587 * 0.5 + 0.114 * 2.0
    assert out[0].flatten().tolist() == pytest.approx([gray] * 6)
    assert torch.equal(out[1], imgs[1])


def test_erasing_draws():
    torch.manual_seed(1)
    n, hw = 5000, (370, 1220)
    params = BatchErasing(
        prob=0.5, scale=(0.01, 0.02), ratio=(0.3, 3.0)).draw(n, hw)
    apply = params['apply']
    # every candidate fits on a KITTI image: the first one is used
    assert binomial_ok(int(apply.sum()), n, 0.5)
    h, w = params['height'][apply], params['width'][apply]
    top, left = params['top'][apply], params['left'][apply]
    assert (h >= 1).all() and (w >= 1).all()
    assert (top >= 0).all() and (top + h <= hw[0]).all()
    assert (left >= 0).all() and (left + w <= hw[1]).all()
    # area ~ U(0.01, 0.02) of the image (rounding of h and w aside)
    frac = (h * w).double() / (hw[0] * hw[1])
    assert frac.min() > 0.009 and frac.max() < 0.021
    assert abs(frac.mean().item() - 0.015) < 5e-4
    # h / w log-uniform on [0.3, 3]: half below the geometric middle
    below = int((h.double() / w < math.sqrt(0.9)).sum())
    assert binomial_ok(below, int(apply.sum()), 0.5)
    # not applied: an empty rectangle
    assert (params['height'][~apply] == 0).all()


def test_erasing_fills_a_rectangle_and_skips_views_it_cannot_fit():
    torch.manual_seed(2)
    imgs = torch.rand(4, 3, 40, 60) + 1
    erasing = BatchErasing(prob=1.0, value=0.0)
    state = torch.get_rng_state()
    params = erasing.draw(4, (40, 60))
    torch.set_rng_state(state)
    out = erasing(imgs)
    for view in range(4):
        t, l_, h, w = (
            int(params[k][view]) for k in ('top', 'left', 'height', 'width'))
        zeros = out[view] == 0
        assert zeros.sum() == 3 * h * w > 0
        assert zeros[:, t:t + h, l_:l_ + w].all()
        keep = torch.ones(40, 60, dtype=torch.bool)
        keep[t:t + h, l_:l_ + w] = False
        assert torch.equal(out[view][:, keep], imgs[view][:, keep])
    # a 2 x 2 view holds no candidate with h < 2 and w < 2 at 90 % area
    tiny = torch.rand(3, 3, 2, 2) + 1
    assert torch.equal(
        BatchErasing(prob=1.0, scale=(0.9, 1.0), ratio=(1.0, 1.0))(tiny), tiny)


def _batch(num, views=2, hw=(10, 10)):
    torch.manual_seed(3)
    imgs = torch.randint(0, 256, (num, views, 3, *hw), dtype=torch.uint8)
    return {'inputs': {'imgs': imgs}, 'data_samples': None}


def test_released_strong_aug_statistics_on_normalised_views():
    pre = SSCDataPreprocessor(batch_augments=RELEASED_STRONG_AUG)
    batch = _batch(5000)
    torch.manual_seed(4)
    out = pre(batch, training=True)['inputs']['imgs'].flatten(0, 1)
    n = out.shape[0]
    gray = (out[:, 0] == out[:, 1]).all(-1).all(-1) & (
        out[:, 1] == out[:, 2]).all(-1).all(-1)
    # the fill value 0 of the normalised tensor; blur keeps a view's values
    # inside their range, and no 0-255 input normalises to exactly 0
    plain = pre(batch, training=False)['inputs']['imgs'].flatten(0, 1)
    assert not (plain == 0).any()
    erased = (out == 0).flatten(1).any(1)
    assert binomial_ok(int(gray.sum()), n, 0.3 * 0.1)
    assert binomial_ok(int(erased.sum()), n, 0.3 * 0.5)
    # both from the same p 0.3 branch: 0.015, not 0.03 * 0.15 = 0.0045
    assert binomial_ok(int((gray & erased).sum()), n, 0.3 * 0.1 * 0.5)


def test_erased_region_is_the_fill_value_after_normalisation():
    pre = SSCDataPreprocessor(
        batch_augments=[dict(type='BatchErasing', prob=1.0, value=0.0)])
    batch = _batch(2, hw=(40, 60))
    out = pre(batch, training=True)['inputs']['imgs']
    plain = pre(batch, training=False)['inputs']['imgs']
    erased = out != plain
    assert erased.any()
    assert (out[erased] == 0).all()
    # every channel of the rectangle, each view its own rectangle
    per_pixel = erased.all(2) | ~erased.any(2)
    assert per_pixel.all()


def test_augments_run_in_training_only_and_repeat_under_a_seed():
    pre = SSCDataPreprocessor(batch_augments=RELEASED_STRONG_AUG)
    assert isinstance(pre.batch_augments[1].transforms[1], BatchErasing)
    batch = _batch(50)
    plain = SSCDataPreprocessor()(batch)['inputs']['imgs']
    assert torch.equal(pre(batch, training=False)['inputs']['imgs'], plain)
    torch.manual_seed(5)
    first = pre(batch, training=True)['inputs']['imgs']
    assert not torch.equal(first, plain)
    # what ResumableRandomnessHook does before an iteration: the same seed
    # gives the same augmentation
    torch.manual_seed(5)
    assert torch.equal(pre(batch, training=True)['inputs']['imgs'], first)
    torch.manual_seed(6)
    assert not torch.equal(pre(batch, training=True)['inputs']['imgs'], first)


def test_bad_arguments():
    with pytest.raises(ValueError, match='prob'):
        BatchGrayscale(prob=1.5)
    with pytest.raises(ValueError, match='kernel_size'):
        BatchGaussianBlur(kernel_size=4)
    with pytest.raises(ValueError, match='scale'):
        BatchErasing(scale=(0.5, 1.5))
    with pytest.raises(ValueError, match='transforms'):
        MODELS.build(dict(type='BatchRandomApply', transforms=[]))
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\)'):
        BatchGrayscale()(torch.zeros(2, 4, 3, 3))
