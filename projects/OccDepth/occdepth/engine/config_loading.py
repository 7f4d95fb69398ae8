"""Config loading shared by the command-line tools."""
from typing import Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.registry import init_default_scope


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config, apply ``--cfg-options`` and set the default scope.

    Args:
        path: Config file.
        cfg_options: ``key=value`` overrides as parsed by ``DictAction``.

    Returns:
        The merged config; its ``default_scope`` (``mmdet3d`` when unset) is
        the registry scope from then on.
    """
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    return cfg


def image_size(cfg: Config,
               shape: Optional[Sequence[int]] = None) -> Tuple[int, int]:
    """The image size a tool should use for ``cfg``.

    Args:
        cfg: A loaded config.
        shape: ``(H, W)`` given on the command line, used when not None.

    Returns:
        ``shape``, else the config's ``crop_size``, else the ``crop_size``
        of the training pipeline's image loader.
    """
    if shape is not None:
        size = tuple(int(n) for n in shape)
    else:
        size = cfg.get('crop_size') or ()
        pipeline = cfg.get('train_dataloader', {}).get('dataset',
                                                       {}).get('pipeline', [])
        for transform in pipeline:
            if not size and transform.get('crop_size'):
                size = transform['crop_size']
        size = tuple(size)
    if len(size) != 2:
        raise ValueError(f'{cfg.filename}: no crop_size in the config or its '
                         'training pipeline; give the image size with '
                         '--shape H W')
    return size
