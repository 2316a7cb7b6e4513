# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The table of preprocessing steps (``mmlcnetv2.deploy.preprocess.steps``):
each step, read from its OpenMMLab test-pipeline transform and replayed on
the host, gives that transform's pixels and size; its fields are what the
schema checks. Adding a step means one class and one case here."""
import numpy as np
import pytest

from mmlcnetv2.deploy.preprocess.host import apply_steps
from mmlcnetv2.deploy.preprocess.jpeg import resize_size
from mmlcnetv2.deploy.preprocess.spec import pipeline_steps
from mmlcnetv2.deploy.preprocess.steps import STEPS


def _mmpretrain(name: str, **kwargs):
    from mmpretrain.datasets import transforms
    return getattr(transforms, name)(**kwargs)


def _mmdet(name: str, **kwargs):
    from mmdet.datasets import transforms
    return getattr(transforms, name)(**kwargs)


def _mmcv(name: str, **kwargs):
    from mmcv import transforms
    return getattr(transforms, name)(**kwargs)


# op -> (a transform config of the test pipeline, its OpenMMLab transform)
CASES = {
    'resize_edge': [(dict(type='ResizeEdge', scale=73, edge='short'),
                     lambda: _mmpretrain('ResizeEdge', scale=73,
                                         edge='short')),
                    (dict(type='ResizeEdge', scale=90, edge='long',
                          interpolation='bicubic'),
                     lambda: _mmpretrain('ResizeEdge', scale=90, edge='long',
                                         interpolation='bicubic'))],
    'resize': [(dict(type='Resize', scale=(96, 64), keep_ratio=True),
                lambda: _mmdet('Resize', scale=(96, 64), keep_ratio=True)),
               (dict(type='Resize', scale=(80, 48), keep_ratio=False),
                lambda: _mmcv('Resize', scale=(80, 48), keep_ratio=False))],
    'center_crop': [(dict(type='CenterCrop', crop_size=64),
                     lambda: _mmpretrain('CenterCrop', crop_size=64))],
    'pad': [(dict(type='Pad', size_divisor=32, pad_val=dict(img=114)),
             lambda: _mmdet('Pad', size_divisor=32, pad_val=dict(img=114))),
            (dict(type='Pad', pad_to_square=True, pad_val=(1, 2, 3)),
             lambda: _mmdet('Pad', pad_to_square=True,
                            pad_val=dict(img=(1, 2, 3))))],
}


def test_every_step_has_a_case():
    assert sorted(CASES) == sorted(STEPS)


@pytest.mark.parametrize('op, index', [(op, i) for op, cases in CASES.items()
                                       for i in range(len(cases))])
def test_step_replays_its_transform(op, index):
    """The host's replay equals the OpenMMLab transform on an odd-size
    image: the same pixels, the same size; a resize's scale and its
    size rule (``out_size``, what reduced-size decoding uses) agree."""
    config, transform = CASES[op][index]
    steps = pipeline_steps([dict(config)])
    assert [s['op'] for s in steps] == [op]
    # every field the step writes is one the schema checks, and only those
    assert set(steps[0]) - {'op'} == set(STEPS[op].fields)
    img = np.random.default_rng(index).integers(0, 256, (101, 150, 3),
                                                dtype=np.uint8)
    ref = transform()(dict(img=img.copy(), img_shape=img.shape[:2],
                           ori_shape=img.shape[:2]))['img']
    got, scale, _ = apply_steps(img, steps)
    np.testing.assert_array_equal(got, ref)
    size = resize_size((150, 101), steps[0])
    if STEPS[op].resizes:
        assert size == (ref.shape[1], ref.shape[0])
        assert scale == (ref.shape[1] / 150, ref.shape[0] / 101)
    else:
        assert size is None and scale == (1.0, 1.0)


def test_unknown_transform_is_refused_by_name():
    with pytest.raises(ValueError) as info:
        pipeline_steps([dict(type='RandomFlip', prob=0.5)])
    message = str(info.value)
    assert "'RandomFlip'" in message
    for step in STEPS.values():
        assert step.supported in message
