# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Checks that ``tools/train.py``/``tools/test.py`` run before the Runner.

mmengine reports a wrong data root or a checkpoint of another arch late and
deep (an empty dataset after minutes of set-up, a list of size mismatches in
a warning while training goes on from random weights), and a misspelt
argument or a bad backbone value as a traceback after the environment and
config dumps, with a timestamped work-dir folder left behind. These checks
name the bad value and what was expected before anything is built or
written.

Example:
    >>> from mmlcnetv2.apis import load_config
    >>> from mmlcnetv2.cli.checks import check_before_run
    >>> cfg = load_config('configs/cls/pplcnetv2-small_digits.py')
    >>> check_before_run(cfg, training=True)  # raises UserInputError
"""
import difflib
import inspect
import json
import math
import os
import os.path as osp
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

import torch
from mmengine.config import Config

from ..errors import UserInputError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                    '.tiff', '.webp')
# Wrappers whose inner datasets are checked instead.
_WRAPPER_KEYS = ('dataset', 'datasets')


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


def check_annotation_file(path: str, what: str) -> None:
    """A JSON annotation file must parse; the dataset's own error names
    neither the file nor, with mmengine's loader, the position.

    The whole file is read once more (COCO's train set: seconds), which is
    small next to the run it saves from failing after its set-up.
    """
    if not path.lower().endswith('.json') or not osp.isfile(path):
        return
    try:
        with open(path, 'rb') as f:
            json.load(f)
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError too
        raise UserInputError(
            f'{what}: annotation file {path!r} is not valid JSON: {e}') \
            from None


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
            check_annotation_file(ann_path, what)
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


# Model keys of the heads whose ``num_classes`` must equal the dataset's
# class count: mmpretrain, mmdet, mmseg.
_HEAD_KEYS = ('head', 'bbox_head', 'decode_head')


def _dataset_classes(ds: dict) -> Optional[Tuple[int, str]]:
    """How many classes a dataset config has, and where that comes from:
    its ``metainfo``'s (or mmpretrain's ``classes`` argument), the class
    folders of an mmpretrain ``CustomDataset`` without an annotation file,
    or its class's ``METAINFO``; None when none of them says."""
    from mmengine.registry import DATASETS
    meta = ds.get('metainfo')
    for where, classes in (('metainfo.classes', meta.get('classes')
                            if isinstance(meta, dict) else None),
                           ('classes', ds.get('classes'))):
        if isinstance(classes, (list, tuple)):
            return len(classes), where
    if ds.get('type') == 'CustomDataset' and not ds.get('ann_file') and \
            ds.get('data_root'):
        from mmpretrain.datasets.custom import find_folders
        prefix = _image_prefixes(ds)[0]
        folder = osp.join(ds['data_root'], prefix)
        if osp.isdir(folder):
            folders = find_folders(folder)[0]
            return len(folders), f'the class folders in {folder!r}: ' + \
                ', '.join(folders[:10]) + (', ...' if len(folders) > 10
                                           else '')
    klass = _resolve(DATASETS, ds.get('type'))
    classes = getattr(klass, 'METAINFO', {}).get('classes')
    if isinstance(classes, (list, tuple)) and classes:
        return len(classes), f"{ds.get('type')}.METAINFO"
    return None


def check_num_classes(cfg: Config, dataset_cfg: dict, split: str) -> None:
    """The heads' ``num_classes`` equal the dataset's class count (a
    2-class folder with ``num_classes=5`` trains without a word, and
    mmdet's and mmseg's losses see labels as background or out of range).

    Raises:
        UserInputError: One line naming both counts.
    """
    model = cfg.get('model')
    if not isinstance(model, dict):
        return
    heads = [(f'model.{key}', model[key]) for key in _HEAD_KEYS
             if isinstance(model.get(key), dict)]
    for ds in _iter_datasets(dataset_cfg):
        found = _dataset_classes(ds)
        if found is None:
            continue
        count, where = found
        for path, head in heads:
            num = head.get('num_classes')
            if not _is_count(num, 1) or num == count or head.get(
                    'out_channels', num) != num:
                continue  # an mmseg binary head: 1 output channel
            hint = (f' (--cfg-options num_classes={count})'
                    if cfg.get('num_classes') == num else '')
            raise UserInputError(
                f'{split} dataset ({ds.get("type", "?")}) has {count} '
                f'classes ({where}) but {path}.num_classes is {num}; set '
                f'num_classes to {count}{hint} or fix the dataset')


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
    from ..utils.safe_load import check_checkpoint_file, read_checkpoint
    try:
        check_checkpoint_file(path)
    except FileNotFoundError as e:
        raise UserInputError(f'{what}: {e}') from None
    except UserInputError as e:
        # Not a torch file: PaddleClas / timm / .safetensors files in our
        # layout may still be, as the backbone's init_weights loads them.
        if not path.lower().endswith(('.pdparams', '.safetensors')):
            raise UserInputError(f'{what}: {e}') from None
    from mmlcnetv2.converters import WeightsError, load_weights
    from mmlcnetv2.converters.files import TORCH_ZIP, sniff_format
    try:
        return dict(load_weights(path).state)
    except WeightsError as e:
        if sniff_format(path) != TORCH_ZIP:
            raise UserInputError(f'{what}: {e}') from e
    # A torch file of another model: mmengine's loader, as the Runner's.
    try:
        ckpt = read_checkpoint(path)
    except UserInputError as e:
        raise UserInputError(f'{what}: {e}') from None
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
    from ..converters.download import fetch_weights, is_remote
    load_from = cfg.get('load_from')
    targets = [load_from] if load_from and _is_local(str(load_from)) else []
    pretrained = [(p, c) for p, c in _iter_pretrained(cfg.get('model', {}))
                  if is_remote(str(c['checkpoint']))
                  or _is_local(str(c['checkpoint']))] if training else []
    if not targets and not pretrained:
        return
    if model is None:
        from ..apis.build import build_model
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
        if is_remote(path):
            from ..models.backbones import PPLCNetV2
            if not isinstance(module, PPLCNetV2):
                continue  # mmengine's loader downloads it, as it can
            # Fetched now (once, into the cache) so that offline or a failed
            # download stops the run here, in one line.
            path = fetch_weights(path)
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


# ---------------------------------------------------- constructor arguments
# Keys that the Runner or a builder takes out of a dict before the class
# sees the rest, per registry.
_BUILDER_KEYS = {
    'hook': {'priority'},  # Runner.register_hook
    'optim_wrapper': {'constructor', 'paramwise_cfg'},  # build_optim_wrapper
    'parameter scheduler': {'convert_to_iter_based'},  # build_iter_from_epoch
}


def accepted_args(obj) -> Optional[Set[str]]:
    """The keyword arguments ``obj`` (a class or function) accepts.

    ``**kwargs`` are followed up the MRO (a head passing them on to its base
    class): then every ``__init__`` there up to ``nn.Module``'s counts, as
    ``super(Base, self).__init__`` may skip the next class in the MRO
    (mmdet's ``VFNetHead`` passes ``strides`` past ``ATSSHead`` to
    ``AnchorFreeHead``). A class without any ``__init__`` accepts none.
    None when that cannot be known: ``**kwargs`` that end at ``object`` or
    in a function, or an ``__init__`` not written in Python.
    """
    if not inspect.isclass(obj):
        try:
            params = inspect.signature(obj).parameters.values()
        except (TypeError, ValueError):
            return None
        if any(p.kind == p.VAR_KEYWORD for p in params):
            return None
        return {p.name for p in params
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    names: Set[str] = set()
    passing_on = False  # the last __init__ seen passes **kwargs on
    for klass in obj.__mro__:
        init = vars(klass).get('__init__')
        if init is None:
            continue
        if klass is torch.nn.Module or (klass is object and not passing_on):
            return names
        if klass is object or not inspect.isfunction(init):
            return None
        params = list(inspect.signature(init).parameters.values())[1:]
        names.update(p.name for p in params
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        kwargs = any(p.kind == p.VAR_KEYWORD for p in params)
        if klass is obj and not kwargs:
            return names
        passing_on = kwargs
    return None


def _resolve(registry, type_name):
    """The class or function ``type_name`` names in the default scope's
    ``registry`` (None if it is not there)."""
    if not isinstance(type_name, str):
        return type_name if callable(type_name) else None
    with registry.switch_scope_and_registry(None) as scoped:
        try:
            return scoped.get(type_name)
        except Exception:  # mmengine's get raises for odd dotted names
            return None


def check_args(node: dict, obj, path: str, extra: Iterable[str] = ()):
    """Every key of ``node`` must be an argument of ``obj``."""
    allowed = accepted_args(obj)
    if allowed is None:
        return
    allowed |= set(extra)
    name = getattr(obj, '__name__', str(obj))
    for key in node:
        if key == 'type' or key.startswith('_') or key in allowed:
            continue  # _scope_, _delete_: mmengine's own
        near = difflib.get_close_matches(key, sorted(allowed), n=1)
        hint = f' (did you mean {near[0]!r}?)' if near else ''
        raise UserInputError(
            f'{path}.{key}: {name} has no argument {key!r}{hint}; its '
            f'arguments: {", ".join(sorted(allowed))}')


def _check_backbone_values(node: dict, obj, path: str) -> None:
    """PPLCNetV2's arch, out_indices, frozen_stages, ... before building."""
    from mmlcnetv2.models.backbones.pplcnetv2 import PPLCNetV2
    if not (inspect.isclass(obj) and issubclass(obj, PPLCNetV2)):
        return
    try:
        obj.check_args(**{k: v for k, v in node.items()
                          if k != 'type' and not k.startswith('_')})
    except (ValueError, TypeError) as e:
        raise UserInputError(f'{path}: {e}') from None


def _check_typed(node, registry, path: str, recurse: Tuple[str, ...] = (),
                 default_type: Optional[str] = None,
                 extra: Iterable[str] = ()) -> None:
    """Check a config dict built from ``registry`` (and, for the keys in
    ``recurse`` or any key when ``recurse`` is ``('*',)``, the typed dicts
    inside it, from the same registry)."""
    if isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            _check_typed(item, registry, f'{path}.{i}', recurse,
                         default_type, extra)
        return
    if not isinstance(node, dict):
        return
    type_name = node.get('type', default_type)
    obj = _resolve(registry, type_name) if type_name is not None else None
    if obj is None:
        return  # not ours to judge: another registry, or no type
    check_args(node, obj, path,
                set(extra) | _BUILDER_KEYS.get(registry.name, set()))
    _check_backbone_values(node, obj, path)
    for key, value in node.items():
        # *_cfg dicts (norm_cfg, act_cfg, init_cfg, train_cfg of a
        # detector) are read by helper builders that take extra keys.
        if key.endswith('_cfg') or not (recurse == ('*', ) or key in recurse):
            continue
        children = value if isinstance(value, (list, tuple)) else [value]
        if all(isinstance(c, dict) and 'type' in c for c in children):
            _check_typed(value, registry, f'{path}.{key}', recurse)


def _check_loop(cfg: Config, key: str, default: str) -> None:
    from mmengine.registry import LOOPS
    loop = cfg.get(key)
    if not isinstance(loop, dict):
        return
    if 'type' in loop:
        _check_typed(loop, LOOPS, key)
    else:  # Runner.build_*_loop: by_epoch picks the train loop class
        if key == 'train_cfg':
            default = ('EpochBasedTrainLoop' if loop.get('by_epoch', True)
                       else 'IterBasedTrainLoop')
        _check_typed(loop, LOOPS, key, default_type=default,
                     extra={'by_epoch'})


def _check_evaluator(evaluator, key: str) -> None:
    from mmengine.registry import EVALUATOR, METRICS
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        _check_typed(evaluator, EVALUATOR, key, default_type='Evaluator')
        evaluator, key = evaluator['metrics'], f'{key}.metrics'
    _check_typed(evaluator, METRICS, key)


def check_model_config(cfg: Config) -> None:
    """The model's arguments and backbone values (``arch=None``,
    ``out_indices=[]``, ``scale=-1``): one check for every tool that
    builds the model (``train.py``, ``test.py``, ``deploy.py``), before it
    is built, in the config's default scope (whose modules must be
    registered: :func:`mmlcnetv2.apis.register_scope`).

    Raises:
        UserInputError: Naming the key, its value and what is allowed.
    """
    from mmengine.registry import MODELS, DefaultScope
    if not isinstance(cfg.get('model'), dict):
        return
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        _check_typed(cfg.model, MODELS, 'model', recurse=('*', ))


def check_constructor_args(cfg: Config, training: bool) -> None:
    """Misspelt arguments and bad backbone values, before anything is built.

    Checks the model (every typed dict in it, except those under ``*_cfg``
    keys), the loops, the evaluators, the datasets, the optimizer and its
    wrapper, the parameter schedulers and the hooks: each key must be an
    argument of the class its ``type`` names in the config's default scope
    (suggesting the closest one), and a PPLCNetV2 backbone's values must be
    valid (its own ``check_args``). Classes whose ``**kwargs`` cannot be
    followed are not checked.

    Raises:
        UserInputError: Naming the key, the class and what it accepts.
    """
    from mmengine.registry import (DATASETS, HOOKS, OPTIM_WRAPPERS,
                                   OPTIMIZERS, PARAM_SCHEDULERS,
                                   init_default_scope)
    from mmengine.utils import import_modules_from_strings
    if cfg.get('custom_imports'):
        try:
            import_modules_from_strings(**cfg.custom_imports)
        except ImportError as e:
            raise UserInputError(f'custom_imports: {e}') from None
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    check_model_config(cfg)
    splits = _splits_used(cfg, training)
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if isinstance(loader, dict) and isinstance(loader.get('dataset'),
                                                   dict):
            _check_typed(loader.dataset, DATASETS,
                         f'{split}_dataloader.dataset',
                         recurse=('dataset', 'datasets'))
    if 'val' in splits:
        _check_loop(cfg, 'val_cfg', 'ValLoop')
        _check_evaluator(cfg.get('val_evaluator'), 'val_evaluator')
    if training:
        _check_loop(cfg, 'train_cfg', 'EpochBasedTrainLoop')
        wrapper = cfg.get('optim_wrapper')
        if isinstance(wrapper, dict) and 'constructor' not in wrapper:
            _check_typed(wrapper, OPTIM_WRAPPERS, 'optim_wrapper',
                         default_type='OptimWrapper')
            _check_typed(wrapper.get('optimizer'), OPTIMIZERS,
                         'optim_wrapper.optimizer')
        _check_typed(cfg.get('param_scheduler'), PARAM_SCHEDULERS,
                     'param_scheduler')
    else:
        _check_loop(cfg, 'test_cfg', 'TestLoop')
        _check_evaluator(cfg.get('test_evaluator'), 'test_evaluator')
    for name, hook in (cfg.get('default_hooks') or {}).items():
        _check_typed(hook, HOOKS, f'default_hooks.{name}')
    _check_typed(cfg.get('custom_hooks'), HOOKS, 'custom_hooks')


# ------------------------------------------------------ values the Runner reads
def _is_count(value, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and \
        value >= low


def _is_rate(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(
        value, bool) and math.isfinite(value) and value >= 0


_AT_LEAST_1 = (lambda v: _is_count(v, 1), 'an integer >= 1')
_AT_LEAST_0 = (lambda v: _is_count(v, 0), 'an integer >= 0')
_RATE = (_is_rate, 'a finite number >= 0')
# Values that mmengine, torch's DataLoader and optimizers reject only after
# the Runner has made the work dir (or, for a string lr, with a TypeError
# from a comparison): key -> (check, what is allowed). ``{split}``: each
# split the run uses.
RUNNER_VALUES = {
    '{split}_dataloader.batch_size': _AT_LEAST_1,
    '{split}_dataloader.num_workers': _AT_LEAST_0,
    'train_cfg.max_epochs': _AT_LEAST_1,
    'train_cfg.max_iters': _AT_LEAST_1,
    'train_cfg.val_interval': _AT_LEAST_1,
    'optim_wrapper.accumulative_counts': _AT_LEAST_1,
    'optim_wrapper.optimizer.lr': _RATE,
    'optim_wrapper.optimizer.momentum': _RATE,
    'optim_wrapper.optimizer.weight_decay': _RATE,
    'auto_scale_lr.base_batch_size': _AT_LEAST_1,
}
_MISSING = object()


def _get(cfg: Config, key: str):
    """The value at ``a.b.c`` in ``cfg``, or ``_MISSING``."""
    node = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    for part in key.split('.'):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def check_runner_values(cfg: Config, training: bool) -> None:
    """The counts and rates of :data:`RUNNER_VALUES` that the config sets
    (for training, the train-only ones too) have their type and range.

    Raises:
        UserInputError: Naming the key, its value and what is allowed.
    """
    splits = _splits_used(cfg, training)
    for pattern, (ok, allowed) in RUNNER_VALUES.items():
        if '{split}' in pattern:
            keys = [pattern.format(split=split) for split in splits]
        else:
            keys = [pattern] if training else []
        for key in keys:
            value = _get(cfg, key)
            if value is not _MISSING and value is not None and not ok(value):
                raise UserInputError(
                    f'{key}: must be {allowed}, got {value!r}')


# -------------------------------------------------------------- together
def check_before_run(cfg: Config, training: bool) -> None:
    """All early checks for a train (``training=True``) or test run
    (the checkpoint to test in ``cfg.load_from``).

    Raises:
        UserInputError: The first problem found, named.
    """
    check_constructor_args(cfg, training)
    check_runner_values(cfg, training)
    for split in _splits_used(cfg, training):
        loader = cfg.get(f'{split}_dataloader')
        if loader and isinstance(loader, dict) and 'dataset' in loader:
            check_dataset(loader['dataset'], split)
            check_num_classes(cfg, loader['dataset'], split)
    check_checkpoints(cfg, training=training)
