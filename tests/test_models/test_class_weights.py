"""Class weights at full precision from the SemanticKITTI frequencies."""
import math
import os

import pytest
import torch
from mmdet3d.registry import MODELS
from mmengine.config import Config

from projects.OccDepth.occdepth.datasets import label_maps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

# The weights the configs stored before, rounded to 8 digits.
ROUNDED = [
    0.04461708, 0.06033372, 0.08519951, 0.08557781, 0.07473958, 0.07342448,
    0.08012932, 0.07964536, 0.08176919, 0.05574878, 0.06527310, 0.05675503,
    0.06832815, 0.05600435, 0.06034849, 0.05296357, 0.06878050, 0.05738673,
    0.07164864, 0.07862047
]
ROUNDED_OCC = [0.04461708, 0.05046751]


def test_weights_are_one_over_log_frequency_in_float64():
    freq = label_maps.SEMANTICKITTI_CLASS_FREQUENCIES
    weights = label_maps.named_class_weights('semantickitti')
    assert weights.dtype.name == 'float64'
    # float64 to the last bit or two (np.log and math.log may differ by 1 ulp)
    assert weights.tolist() == pytest.approx(
        [1 / math.log(f + 0.001) for f in freq], rel=1e-15, abs=0)
    assert weights.tolist() == pytest.approx(ROUNDED, abs=1e-8)
    occ = label_maps.named_class_weights('semantickitti_occupancy')
    occupied = math.fsum(freq[1:])
    assert occ.tolist() == pytest.approx(
        [1 / math.log(freq[0] + 0.001), 1 / math.log(occupied + 0.001)],
        rel=1e-15,
        abs=0)
    assert occ.tolist() == pytest.approx(ROUNDED_OCC, abs=1e-8)
    with pytest.raises(ValueError, match="unknown class-weight table 'x'"):
        label_maps.named_class_weights('x')


def test_kitti_config_losses_hold_the_full_precision_weights():
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'occdepth_kitti.py'))
    head = cfg.model.occ_head
    for key, name in (('loss_ce', 'semantickitti'),
                      ('loss_occ', 'semantickitti_occupancy')):
        loss = MODELS.build(head[key])
        expected = torch.from_numpy(label_maps.named_class_weights(name))
        assert loss.class_weight.dtype == torch.float64
        assert torch.equal(loss.class_weight, expected)
    # the rounding moved at least one weight by more than a float32 step
    rounded = torch.tensor(ROUNDED, dtype=torch.float32)
    full = torch.from_numpy(label_maps.named_class_weights('semantickitti'))
    assert not torch.equal(full.float(), rounded)
