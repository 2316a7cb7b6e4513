"""The deployment task table: every task the package names has a complete
task object, the table refuses an unknown task by name, and the precision
vocabulary of tools/deploy.py (issue 14)."""
import inspect
import os.path as osp
import sys

import pytest
import torch

from mmlcnetv2 import names
from mmlcnetv2.deploy.manifest.schema import validate_meta
from mmlcnetv2.deploy.tasks import TASKS, DeployTask, get_task, task_of

from mmlcnetv2.commands import deploy as deploy_tool  # noqa: E402


def test_every_task_name_has_a_task_object():
    assert tuple(TASKS) == names.TASKS
    for name, task in TASKS.items():
        assert isinstance(task, DeployTask) and task.name == name
        # Instantiated, so no abstract method is left unimplemented.
        assert not inspect.isabstract(type(task)), name
    # One task per config scope: task_of must not be ambiguous.
    scopes = [t.scope for t in TASKS.values()]
    assert len(set(scopes)) == len(scopes) and all(scopes)


@pytest.mark.parametrize('name', names.TASKS)
def test_task_names_fit_their_graph(name):
    """The tracing inputs are as many as the IR's input names, and the
    reader accepts the output names the writer uses."""
    task = get_task(name)
    example = task.example_inputs((16, 24), 2)
    assert len(example) == len(task.input_names)
    assert all(isinstance(t, torch.Tensor) and len(t) == 2 for t in example)
    assert tuple(example[0].shape) == (2, 3, 16, 24)
    assert list(task.output_names) in task.accepted_outputs
    assert task.default_dynamic is (not task.fixed_input_shape)


def test_unknown_task_is_refused_by_name():
    with pytest.raises(ValueError, match=r"task must be one of \['classific"
                       r"ation', 'detection', 'segmentation'\], got 'pose'"):
        get_task('pose')
    from mmengine.config import Config
    with pytest.raises(ValueError, match=r"default_scope='mmpose'; expected "
                       r"one of \['mmdet', 'mmpretrain', 'mmseg'\]"):
        task_of(Config(dict(default_scope='mmpose')))
    meta = dict(format_version=1, task='pose')
    with pytest.raises(ValueError, match=r"x.json: 'task' must be one of "
                       r"\['classification', 'detection', 'segmentation'\]; "
                       r"got 'pose'"):
        validate_meta(meta, 'x.json')


@pytest.mark.parametrize('given, stored', [('f32', 'f32'), ('fp32', 'f32'),
                                           ('fp16', 'f16'),
                                           ('int8', 'int8')])
def test_deploy_precision_spellings(given, stored):
    args = deploy_tool.parse_args(['c.py', 'k.pth', '--out', 'd',
                                   '--precision', given])
    assert args.precision == stored


def test_deploy_refuses_an_unknown_precision(capsys):
    with pytest.raises(SystemExit) as e:
        deploy_tool.parse_args(['c.py', 'k.pth', '--out', 'd',
                                '--precision', 'bf16'])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "'bf16'" in err and "'f32', 'f16', 'int8'" in err


def test_task_is_the_first_whose_predicate_matches(monkeypatch):
    """A config's task is asked of each task in turn (``matches``), so a
    second task of one scope (say, instance segmentation in mmdet) goes
    before the broader one and takes only its own configs."""
    from mmengine.config import Config

    from mmlcnetv2.deploy import tasks
    from mmlcnetv2.deploy.tasks.detection import DetectionTask

    class MaskTask(DetectionTask):
        name = 'instance_segmentation'

        def matches(self, cfg) -> bool:
            return super().matches(cfg) and 'mask_head' in (
                cfg.model.get('roi_head', None) or {})

    monkeypatch.setattr(tasks, 'TASKS', dict(
        instance_segmentation=MaskTask(), **TASKS))
    masks = Config(dict(default_scope='mmdet', model=dict(
        roi_head=dict(mask_head=dict(type='FCNMaskHead')))))
    boxes = Config(dict(default_scope='mmdet', model=dict(
        roi_head=dict(bbox_head=dict(type='Shared2FCBBoxHead')))))
    assert task_of(masks) == 'instance_segmentation'
    assert task_of(boxes) == 'detection'
    for name, task in TASKS.items():
        assert task_of(Config(dict(default_scope=task.scope,
                                   model=dict()))) == name
