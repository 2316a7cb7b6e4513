"""What several test files share, in one place.

- :func:`one_thread`: a module fixture that runs a test file on one torch
  thread; :func:`snapshot`: the files of a folder, to compare;
- :data:`CLASSIFIER`, :data:`RETINANET`, :data:`SEGMENTOR`: the deploy
  tests' tiny configs, as config text: the tests write them to files, as a
  user's config is one, and a test that needs another variant inherits one
  with ``_base_`` and overrides what it changes;
- :class:`RandomImages`, :func:`tiny_model_cfg`, :func:`tiny_runner_cfg`: a
  tiny in-memory classification task for tests that need a real Runner
  (``custom_imports=['helpers']`` registers the dataset);
- :func:`log_lines`: the messages of mmengine's current logger, to check
  what a load logged;
- :func:`full_disk`: a folder on a file system with no space left (a tiny
  tmpfs; skipped where mounting is not allowed).

All use PP-LCNetV2 at scale 0.25, small enough to build, train or export in
seconds. BN randomisation is the package's
(``mmlcnetv2.utils.batchnorm.randomize_bn``): the benchmark uses it too.
"""
import errno
import logging
import os
import os.path as osp
import subprocess
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List

import pytest
import torch
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger
from mmpretrain.registry import DATASETS
from mmpretrain.structures import DataSample


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Tiny tensors: a second thread only adds synchronisation, and on a
    shared 2-core machine OpenMP barriers make it many times slower.

    Autouse in every test file that imports it::

        from helpers import one_thread  # noqa: F401  (fixture)
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def snapshot(folder: str) -> Dict[str, bytes]:
    """{relative path: bytes} of every file under ``folder``: to check that
    a run wrote the same files, or left a folder as it was.

    Example:
        >>> before = snapshot(out)
        >>> ...  # a run that must not touch ``out``
        >>> assert snapshot(out) == before
    """
    out = {}
    for parent, _, files in os.walk(folder):
        for name in files:
            path = osp.join(parent, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, folder)] = f.read()
    return out


#: An mmpretrain classifier on a class-per-folder dataset. Placeholders:
#: ``{root}`` (the data folder) and ``{classes}`` (a tuple's repr).
CLASSIFIER = """
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmlcnetv2'], allow_failed_imports=False)
data_preprocessor = dict(mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='PPLCNetV2', arch=dict(scale=0.25,
                                              depths=[1, 1, 2, 1])),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='PPLCNetV2Head', num_classes=3, in_channels=256,
              mid_channels=64))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=73, edge='short'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=2,
    dataset=dict(type='CustomDataset', data_root='{root}/train',
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='RandomResizedCrop', scale=64),
                           dict(type='PackInputs')]))
test_dataloader = dict(
    batch_size=2,
    dataset=dict(type='CustomDataset', data_root='{root}/train',
                 metainfo=dict(classes={classes}), pipeline=test_pipeline))
"""

#: An mmdet RetinaNet with 2 classes. ``%`` placeholders: max detections
#: per image, then the test resize (height, width).
RETINANET = """
default_scope = 'mmdet'
custom_imports = dict(imports=['mmlcnetv2'], allow_failed_imports=False)
model = dict(
    type='RetinaNet',
    data_preprocessor=dict(type='DetDataPreprocessor',
                           mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                           pad_size_divisor=32),
    backbone=dict(type='PPLCNetV2', arch=dict(scale=0.25,
                                              depths=[1, 1, 1, 1]),
                  out_indices=(1, 2, 3)),
    neck=dict(type='FPN', in_channels=[64, 128, 256], out_channels=32,
              start_level=0, add_extra_convs='on_input', num_outs=4),
    bbox_head=dict(
        type='RetinaHead', num_classes=2, in_channels=32, stacked_convs=1,
        feat_channels=32,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                              scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                              strides=[8, 16, 32, 64]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0] * 4,
                        target_stds=[1.0] * 4),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                      alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5,
                      neg_iou_thr=0.4, min_pos_iou=0, ignore_iof_thr=-1),
        sampler=dict(type='PseudoSampler'), allowed_border=-1,
        pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms', iou_threshold=0.5),
                  max_per_img=%d))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(%d, %d), keep_ratio=True),
    dict(type='PackDetInputs')]
test_dataloader = dict(dataset=dict(
    type='CocoDataset', metainfo=dict(classes=('square', 'circle')),
    pipeline=test_pipeline))
"""

#: An mmseg encoder-decoder (FCN head) with 4 classes, 96x96 test resize.
SEGMENTOR = """
default_scope = 'mmseg'
custom_imports = dict(imports=['mmlcnetv2'], allow_failed_imports=False)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor',
                           mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                           pad_val=0, seg_pad_val=255, size=(64, 64)),
    backbone=dict(type='PPLCNetV2', arch=dict(scale=0.25,
                                              depths=[1, 1, 1, 1]),
                  out_indices=(1, 2, 3)),
    decode_head=dict(type='FCNHead', in_channels=128, in_index=1,
                     channels=16, num_convs=1, concat_input=False,
                     num_classes=4, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss')),
    test_cfg=dict(mode='whole'))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 96), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')]
test_dataloader = dict(dataset=dict(
    type='BaseSegDataset',
    metainfo=dict(classes=('bg', 'a', 'b', 'c')), pipeline=test_pipeline))
"""


@DATASETS.register_module(force=True)
class RandomImages(BaseDataset):
    """``n`` random 32x32 RGB images in ``num_classes`` classes."""

    METAINFO = dict(classes=('a', 'b', 'c'))

    def __init__(self, n: int = 8, num_classes: int = 3, seed: int = 0):
        self.n, self.num_classes, self.seed = n, num_classes, seed
        super().__init__(lazy_init=False, serialize_data=False)

    def load_data_list(self):
        gen = torch.Generator().manual_seed(self.seed)
        return [dict(img=torch.randint(0, 256, (3, 32, 32), generator=gen,
                                       dtype=torch.uint8),
                     label=i % self.num_classes) for i in range(self.n)]

    def prepare_data(self, idx):
        info = self.get_data_info(idx)
        return dict(inputs=info['img'],
                    data_samples=DataSample().set_gt_label(info['label']))


def tiny_model_cfg(num_classes: int = 3) -> dict:
    return dict(
        type='ImageClassifier',
        data_preprocessor=dict(
            type='ClsDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3),
        backbone=dict(type='PPLCNetV2', arch=dict(scale=0.25,
                                                  depths=[1, 1, 1, 1])),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='PPLCNetV2Head', num_classes=num_classes,
                  in_channels=256, mid_channels=64,
                  loss=dict(type='CrossEntropyLoss')))


def tiny_runner_cfg(work_dir: str, max_iters: int, **overrides) -> dict:
    cfg = dict(
        model=tiny_model_cfg(),
        work_dir=work_dir,
        default_scope='mmpretrain',
        custom_imports=dict(imports=['mmlcnetv2']),
        train_dataloader=dict(
            dataset=dict(type='RandomImages'),
            sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
            collate_fn=dict(type='default_collate'),
            batch_size=4,
            num_workers=0),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01,
                                          momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1], by_epoch=False),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1,
                            by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
    )
    cfg.update(overrides)
    return cfg


def randomize_weights(model) -> None:
    """Non-trivial BN statistics and larger weights than the init, so that a
    fused export and int8 have something to get wrong (a model at init is
    nearly constant)."""
    import torch

    from mmlcnetv2.utils.batchnorm import randomize_bn
    randomize_bn(model, mean_std=0.3, var_range=(0.5, 2.0),
                 weight_range=(0.5, 1.5), bias_std=0.1)
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.normal_(m.weight, std=0.2)


def bn_statistics_of(model, x) -> None:
    """Give every BN layer of ``model`` the statistics of its input on the
    batch ``x``, as training leaves them. After :func:`randomize_weights`
    the random statistics collapse the features: a classifier's pooled
    features varied by 1e-4 of their size between photos, so logits that
    told photos apart were a large difference of near-equal numbers."""
    bns = [m for m in model.modules()
           if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # the cumulative average: one batch's stats
    model.train()
    with torch.no_grad():
        model.extract_feat(x)
    model.eval()


def descent_along_gradient(loss_of: Callable, params: list,
                           at_least: float = 0.5,
                           steps=(1e-2, 1e-3, 1e-4)) -> tuple:
    """How much a short step against the gradient lowers the loss.

    ``loss_of()`` computes the loss (deterministically: seed any dropout
    inside). For each step length ``eps`` (longest first), the parameters
    move by ``eps`` along ``-grad / |grad|``, which the first-order
    expansion says lowers the loss by ``eps * |grad|``. Returns the first
    ``(eps, predicted, actual)`` with ``actual >= at_least * predicted``
    (some short enough step is, for a loss differentiable at the point
    whose gradient is its whole derivative), else the shortest step's.
    (The steps stop at 1e-4: float32 losses resolve ~1e-7.) Training for
    a few steps and asserting on how far the loss fell asserted a training
    outcome, which depends on the weights and the CPU's kernels; this
    holds by calculus."""
    params = [p for p in params if p.requires_grad]
    loss = loss_of()
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    pairs = [(p, g) for p, g in zip(params, grads) if g is not None]
    norm = float(torch.sqrt(sum((g.double() ** 2).sum() for _, g in pairs)))
    assert norm > 0, 'no gradient reaches the parameters'
    kept = [p.detach().clone() for p, _ in pairs]
    result = None
    for eps in steps:
        with torch.no_grad():
            for p, g in pairs:
                p.sub_(g, alpha=eps / norm)
            moved = float(loss_of())
            for (p, _), old in zip(pairs, kept):
                p.copy_(old)
        result = (eps, eps * norm, float(loss) - moved)
        if result[2] >= at_least * result[1]:
            break
    return result


def adamw_losses(loss_of: Callable, params, steps: int) -> List[float]:
    """The losses of ``steps`` AdamW steps (lr 2e-3, as the demo trains)."""
    optim = torch.optim.AdamW(params, lr=2e-3)
    losses = []
    for _ in range(steps):
        loss = loss_of()
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    return losses


@contextmanager
def log_lines(level: int = logging.NOTSET) -> Iterator[List[str]]:
    """Collect the messages mmengine's current logger gets in the block
    (those of ``level`` and above)."""
    lines: List[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    logger, handler = MMLogger.get_current_instance(), Keep(level)
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


@contextmanager
def full_disk(folder: str) -> Iterator[str]:
    """``folder`` as a 1 MiB tmpfs filled up to the last byte by
    ``folder/filler`` (mounting needs root: skips the test otherwise)."""
    os.makedirs(folder, exist_ok=True)
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m',
                              'tmpfs', folder], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip('cannot mount a tmpfs (needs root): '
                    + mounted.stderr.decode().strip())
    try:
        with open(osp.join(folder, 'filler'), 'wb', buffering=0) as f:
            try:
                while True:
                    f.write(b'\0' * 4096)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
        yield folder
    finally:
        subprocess.run(['umount', folder], check=True)
