"""Training on a GPU (marker ``cuda``): mmcv's CUDA ops, a few iterations of
RetinaNet and of the PicoDet-style detector, ``--amp``, 2-GPU DDP, and the
export of a GPU-trained checkpoint against mmdet on the CPU.

Skipped, with the reason shown by ``pytest -ra``, where torch sees no GPU.
On a GPU machine ``make setup`` builds mmcv with CUDA ops (see
docs/gpu.md); ``pytest -m cuda tests`` then runs these alone.
"""
import glob
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

import mmlcnetv2  # noqa: F401
from test_det_train import custom_cfg
from test_deploy_upstream import match_one_to_one, mmdet_results, plant_bias
from mmlcnetv2.datasets.generate.shapes import make_shapes

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PICODET = osp.join(ROOT, 'configs', 'det',
                   'picodet-style_lcnetv2-small_320_coco.py')
GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(GPUS == 0, reason='no CUDA GPU visible to torch: '
                       'the cuda tests run on a GPU machine'),
]


@pytest.fixture(scope='module')
def shapes(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('shapes'))
    make_shapes(root, num_train=8, num_val=2, img_size=96, max_objects=3)
    return root


def picodet_cfg(data_root: str, work_dir: str) -> Config:
    """The PicoDet-style config on the shapes data, from scratch, at 96 px
    with the same training loop as :func:`custom_cfg`."""
    base = custom_cfg(data_root, work_dir)
    cfg = Config.fromfile(PICODET)
    cfg.model.backbone.init_cfg = None
    cfg.model.bbox_head.num_classes = base.model.bbox_head.num_classes
    cfg.model.data_preprocessor.batch_augments = None
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'val_evaluator', 'test_evaluator', 'train_cfg',
                'param_scheduler', 'default_hooks', 'log_processor',
                'work_dir'):
        cfg[key] = base[key]
    cfg.custom_hooks = []
    return cfg


def train_on_cuda(cfg: Config) -> tuple:
    """Run ``cfg`` with mmengine's Runner on the GPU: the losses of every
    iteration and the parameters before and after."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    losses = []

    class RecordLoss(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            losses.append(float(outputs['loss']))

    runner = Runner.from_cfg(cfg)
    runner.register_hook(RecordLoss())
    assert next(runner.model.parameters()).is_cuda
    before = {k: v.detach().cpu().clone()
              for k, v in runner.model.state_dict().items()}
    runner.train()
    after = {k: v.detach().cpu() for k, v in runner.model.state_dict().items()}
    return losses, before, after


def test_mmcv_was_compiled_with_torchs_cuda():
    """The extension mmdet's losses and NMS call on CUDA tensors is there,
    and agrees with the CPU op."""
    from mmcv.ops import get_compiling_cuda_version, nms
    assert get_compiling_cuda_version() == torch.version.cuda
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(200, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 10 + torch.rand(200, 2, generator=g) * 30], 1)
    scores = torch.rand(200, generator=g)
    _, keep_cpu = nms(boxes, scores, 0.5)
    _, keep_gpu = nms(boxes.cuda(), scores.cuda(), 0.5)
    assert torch.equal(keep_cpu, keep_gpu.cpu())


@pytest.mark.parametrize('make_cfg', [custom_cfg, picodet_cfg],
                         ids=['retinanet', 'picodet-style'])
def test_a_few_iterations_on_cuda(make_cfg, shapes, tmp_path):
    """mmdet's CUDA focal loss (RetinaNet) and QFL/DFL (PicoDet-style): the
    losses are finite and every trained parameter moved."""
    losses, before, after = train_on_cuda(make_cfg(shapes, str(tmp_path)))
    assert len(losses) == 2 and all(map(torch.isfinite,
                                        torch.tensor(losses))), losses
    moved = [k for k in before if before[k].is_floating_point()
             and 'running' not in k and not torch.equal(before[k], after[k])]
    assert moved, 'no parameter changed'
    assert any(k.startswith('backbone.') for k in moved)
    assert any(k.startswith('bbox_head.') for k in moved)


def test_amp_on_cuda(shapes, tmp_path):
    """``tools/train.py --amp`` on a GPU trains with mmengine's
    AmpOptimWrapper (fp16 with a dynamic loss scale)."""
    cfg_file = str(tmp_path / 'tiny.py')
    custom_cfg(shapes, str(tmp_path / 'work')).dump(cfg_file)
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), cfg_file,
         '--amp', '--work-dir', str(tmp_path / 'work')],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    dumped = Config.fromfile(str(tmp_path / 'work' / 'tiny.py'))
    assert dumped.optim_wrapper.type == 'AmpOptimWrapper', dumped.optim_wrapper
    assert osp.isfile(tmp_path / 'work' / 'iter_2.pth')


@pytest.mark.skipif(GPUS < 2, reason='2-process DDP needs 2 GPUs')
def test_ddp_on_two_gpus(shapes, tmp_path):
    """``tools/dist_train.sh CONFIG 2``: two NCCL processes train and rank
    0 writes the checkpoint."""
    cfg_file = str(tmp_path / 'tiny.py')
    custom_cfg(shapes, str(tmp_path / 'work')).dump(cfg_file)
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), cfg_file, '2',
         '--work-dir', str(tmp_path / 'work')],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert osp.isfile(tmp_path / 'work' / 'iter_2.pth')
    log = ''.join(open(f).read() for f in
                  glob.glob(str(tmp_path / 'work' / '*' / '*.log')))
    assert 'nccl' in log.lower(), log[-2000:]


def test_gpu_checkpoint_exports_as_mmdet_detects_on_cpu(shapes, tmp_path):
    """A checkpoint trained on the GPU, exported on the CPU, gives mmdet's
    CPU detections one to one on real photos (class bias planted after
    training so that there are detections to compare)."""
    from mmengine.runner import load_checkpoint, save_checkpoint

    from mmlcnetv2.apis.build import build_model
    from mmlcnetv2.deploy import OpenVINOInferencer, export
    from photos import photo_files

    cfg = custom_cfg(shapes, str(tmp_path / 'work'))
    train_on_cuda(cfg)
    cfg_file = str(tmp_path / 'tiny.py')
    cfg.dump(cfg_file)
    model = build_model(Config.fromfile(cfg_file), None)
    load_checkpoint(model, str(tmp_path / 'work' / 'iter_2.pth'),
                    map_location='cpu')
    plant_bias(model, -1.0)
    ckpt = str(tmp_path / 'planted.pth')
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict()), ckpt)

    export(cfg_file, ckpt, str(tmp_path / 'ir'))
    photos = photo_files(tmp_path)
    images = [photos['china'], photos['flower_251x333']]
    ir = OpenVINOInferencer(str(tmp_path / 'ir'), precision_hint='f32')
    for image, ref in zip(images, mmdet_results(cfg_file, ckpt, images)):
        assert len(ref['scores']) > 0
        match_one_to_one(ref, ir(image))
