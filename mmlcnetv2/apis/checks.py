# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Checks that ``tools/train.py``/``tools/test.py`` run before the Runner.

mmengine reports a wrong data root or a checkpoint of another arch late and
deep (an empty dataset after minutes of set-up, a list of size mismatches in
a warning while training goes on from random weights). These checks name the
bad value and what was expected before anything is built or written.

Example:
    >>> from mmlcnetv2.apis import load_config
    >>> from mmlcnetv2.apis.checks import check_before_run
    >>> cfg = load_config('configs/cls/pplcnetv2-small_digits.py')
    >>> check_before_run(cfg, training=True)  # raises UserInputError
"""
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Tuple

import torch
from mmengine.config import Config

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                    '.tiff', '.webp')
# Wrappers whose inner datasets are checked instead.
_WRAPPER_KEYS = ('dataset', 'datasets')


class UserInputError(ValueError):
    """A bad config value, path or checkpoint, named in the message."""


# ---------------------------------------------------------------- datasets
def _iter_datasets(dataset_cfg) -> Iterator[dict]:
    """The leaf dataset configs inside wrappers (Concat, Repeat, ...)."""
    if isinstance(dataset_cfg, (list, tuple)):
        for d in dataset_cfg:
            yield from _iter_datasets(d)
        return
    if not isinstance(dataset_cfg, dict):
        return
    inner = [dataset_cfg[k] for k in _WRAPPER_KEYS if k in dataset_cfg]
    if inner:
        for d in inner:
            yield from _iter_datasets(d)
    else:
        yield dataset_cfg


def _image_prefixes(dataset_cfg: dict) -> List[str]:
    """The image folder(s) a dataset reads, relative to its data_root."""
    prefix = dataset_cfg.get('data_prefix', '')
    if isinstance(prefix, dict):
        # mmpretrain/mmseg: img_path; mmdet: img
        prefix = prefix.get('img_path', prefix.get('img', ''))
    return [prefix or '']


def _has_image(folder: str) -> bool:
    for _, _, files in os.walk(folder, followlinks=True):
        if any(f.lower().endswith(IMAGE_EXTENSIONS) for f in files):
            return True
    return False


def check_dataset(dataset_cfg: dict, split: str) -> None:
    """Check that a dataset's ``data_root``/``ann_file`` hold data.

    Only file-based datasets (with a ``data_root``) are checked; a dataset
    without one (in-memory, generated) is the config author's business.

    Raises:
        UserInputError: Naming the split, the path and what was expected.
    """
    for ds in _iter_datasets(dataset_cfg):
        root = ds.get('data_root')
        if not root or '://' in str(root):
            continue
        what = f'{split} dataset ({ds.get("type", "?")})'
        if not osp.isdir(root):
            raise UserInputError(
                f'{what}: data_root {root!r} does not exist (cwd: '
                f'{os.getcwd()}); set it with --cfg-options '
                f'{split}_dataloader.dataset.data_root=PATH or in the config')
        ann = ds.get('ann_file')
        if ann:
            ann_path = ann if osp.isabs(ann) else osp.join(root, ann)
            if not osp.exists(ann_path):
                raise UserInputError(
                    f'{what}: annotation file {ann_path!r} does not exist')
        for prefix in _image_prefixes(ds):
            folder = prefix if osp.isabs(prefix) else osp.join(root, prefix)
            if not osp.isdir(folder):
                raise UserInputError(
                    f'{what}: image folder {folder!r} (data_root + '
                    f'data_prefix) does not exist')
            if not _has_image(folder):
                raise UserInputError(
                    f'{what}: no images ({", ".join(IMAGE_EXTENSIONS)}) '
                    f'under {folder!r}')


def _splits_used(cfg: Config, training: bool) -> List[str]:
    if not training:
        return ['test']
    splits = ['train']
    if cfg.get('val_cfg') is not None and cfg.get('val_dataloader'):
        splits.append('val')
    return splits


# ------------------------------------------------------------ checkpoints
def _iter_pretrained(node, path: str = 'model') -> Iterator[Tuple[str, dict]]:
    """``(module path, init_cfg)`` of every ``Pretrained`` init in a model."""
    if isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _iter_pretrained(v, f'{path}.{i}')
        return
    if not isinstance(node, dict):
        return
    init = node.get('init_cfg')
    for init_cfg in (init if isinstance(init, (list, tuple)) else [init]):
        if isinstance(init_cfg, dict) and init_cfg.get(
                'type') == 'Pretrained' and init_cfg.get('checkpoint'):
            yield path, init_cfg
    for key, value in node.items():
        if key != 'init_cfg':
            yield from _iter_pretrained(value, f'{path}.{key}')


def _is_local(path: str) -> bool:
    return '://' not in path and not path.startswith(
        ('open-mmlab:', 'torchvision:', 'mmcls:', 'openmmlab:'))


def _load_state_dict(path: str, what: str) -> Dict[str, torch.Tensor]:
    if not osp.isfile(path):
        raise UserInputError(f'{what}: checkpoint {path!r} does not exist')
    # PaddleClas / timm / .safetensors files in our layout, as the
    # backbone's init_weights will load them; torch files of other models
    # go on to mmengine's loader below.
    from mmlcnetv2.converters import WeightsError, load_weights
    from mmlcnetv2.converters.files import TORCH_ZIP, sniff_format
    try:
        return dict(load_weights(path).state)
    except WeightsError as e:
        if sniff_format(path) != TORCH_ZIP:
            raise UserInputError(f'{what}: {e}') from e
    from mmengine.runner.checkpoint import _load_checkpoint

    from ..utils.safe_load import UnsafeCheckpointError, explain_refusal
    try:
        with explain_refusal(path):
            ckpt = _load_checkpoint(path, map_location='cpu')
    except UnsafeCheckpointError as e:
        raise UserInputError(f'{what}: {e}') from None
    except Exception as e:  # a broken or foreign file: say which one
        raise UserInputError(
            f'{what}: cannot read checkpoint {path!r}: '
            f'{type(e).__name__}: {e}') from e
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise UserInputError(f'{what}: {path!r} holds no state dict')
    return {k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in state.items() if isinstance(v, torch.Tensor)}


def compare_state_dicts(expected: Dict[str, torch.Tensor],
                        found: Dict[str, torch.Tensor],
                        what: str,
                        path: str,
                        complete: bool = False) -> None:
    """Fail when a checkpoint does not fit a model.

    Missing or extra keys are fine for training (a new head, a backbone-only
    checkpoint), but the checkpoint must share keys with the model and every
    shared key must have the model's shape.

    Args:
        complete (bool): Also require every model key (for testing, where a
            missing tensor would silently stay random).

    Raises:
        UserInputError: Listing (some of) the mismatches.
    """
    common = expected.keys() & found.keys()
    missing = sorted(expected.keys() - found.keys())
    if complete and common and missing:
        raise UserInputError(
            f'{what}: checkpoint {path!r} lacks {len(missing)} of the '
            f'model\'s {len(expected)} tensors, e.g. {missing[:3]}; is it a '
            'backbone-only or another model\'s checkpoint?')
    if not common:
        raise UserInputError(
            f'{what}: checkpoint {path!r} has no parameter of this model '
            f'(model keys look like {sorted(expected)[:3]}, checkpoint keys '
            f'like {sorted(found)[:3]}); wrong file or wrong prefix?')
    bad = sorted(k for k in common if expected[k].shape != found[k].shape)
    if bad:
        lines = [f'  {k}: checkpoint {tuple(found[k].shape)}, model '
                 f'{tuple(expected[k].shape)}' for k in bad[:5]]
        raise UserInputError(
            f'{what}: checkpoint {path!r} does not fit the model: '
            f'{len(bad)} of {len(common)} shared tensors have other shapes '
            '(a checkpoint of another arch or num_classes?)\n' +
            '\n'.join(lines))


def _submodule(model: torch.nn.Module, cfg_path: str):
    """The module built from the config node at ``model.a.b`` (or None)."""
    module = model
    for part in cfg_path.split('.')[1:]:
        module = getattr(module, part, None)
        if not isinstance(module, torch.nn.Module):
            return None
    return module


def check_checkpoints(cfg: Config,
                      model: Optional[torch.nn.Module] = None,
                      training: bool = True) -> None:
    """Check ``load_from`` and the ``Pretrained`` inits against the model,
    by shape, before the Runner loads them.

    Args:
        cfg (Config): The config (``cfg.model`` is built when ``model`` is
            not given).
        model (nn.Module, optional): The model, if already built.
        training (bool): For a test run, ``load_from`` must cover the whole
            model and ``Pretrained`` inits are not used (not checked).
    """
    load_from = cfg.get('load_from')
    targets = [load_from] if load_from and _is_local(str(load_from)) else []
    pretrained = [(p, c) for p, c in _iter_pretrained(cfg.get('model', {}))
                  if _is_local(str(c['checkpoint']))] if training else []
    if not targets and not pretrained:
        return
    if model is None:
        from .build import build_model
        model = build_model(cfg)
    what = 'load_from' if training else 'checkpoint'
    for path in targets:
        compare_state_dicts(model.state_dict(), _load_state_dict(path, what),
                            what, path, complete=not training)
    for cfg_path, init_cfg in pretrained:
        path, prefix = str(init_cfg['checkpoint']), init_cfg.get('prefix')
        what = f'{cfg_path}.init_cfg (Pretrained)'
        module = _submodule(model, cfg_path)
        if module is None:
            continue
        state = _load_state_dict(path, what)
        if prefix:
            prefix = prefix if prefix.endswith('.') else prefix + '.'
            state = {k[len(prefix):]: v for k, v in state.items()
                     if k.startswith(prefix)}
            if not state:
                raise UserInputError(
                    f'{what}: checkpoint {path!r} has no key starting with '
                    f'prefix {prefix!r}')
        compare_state_dicts(module.state_dict(), state, what, path)


# -------------------------------------------------------------- together
def check_before_run(cfg: Config, training: bool) -> None:
    """All early checks for a train (``training=True``) or test run
    (the checkpoint to test in ``cfg.load_from``).

    Raises:
        UserInputError: The first problem found, named.
    """
    for split in _splits_used(cfg, training):
        loader = cfg.get(f'{split}_dataloader')
        if loader and isinstance(loader, dict) and 'dataset' in loader:
            check_dataset(loader['dataset'], split)
    check_checkpoints(cfg, training=training)
