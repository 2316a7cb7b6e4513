"""Segmentation configs (configs/seg): build, wiring, loss, predict, train."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmlcnetv2  # noqa: F401  (registers PPLCNetV2, GlobalPoolLRASPPHead)
from helpers import adamw_losses, descent_along_gradient
from helpers import one_thread  # noqa: F401  (autouse fixture)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEG = osp.join(ROOT, 'configs', 'seg')
CONFIGS = {
    'lraspp_lcnetv2-base_4xb4-320k_cityscapes-512x1024.py': 19,
    'lraspp_lcnetv2-base_8xb4-160k_ade20k-512x512.py': 150,
    'fpn_lcnetv2-base_4xb4-80k_ade20k-512x512.py': 150,
    'lraspp_lcnetv2-base_custom.py': 2,
    'lraspp_lcnetv2-small_shapes-demo.py': 5,
}
DEMO = 'lraspp_lcnetv2-small_shapes-demo.py'


_LOADED = {}


def _cfg(name: str, crop=(64, 96)) -> Config:
    # Parsed once: resolving `mmseg::` bases makes mmengine read all of
    # mmseg's metafiles (~1-3 s per base).
    if name not in _LOADED:
        _LOADED[name] = Config.fromfile(osp.join(SEG, name))
    cfg = copy.deepcopy(_LOADED[name])
    # Tiny training batches; weights need not exist (init is not run here).
    cfg.model.data_preprocessor.size = crop
    return cfg


def _model(cfg: Config):
    init_default_scope(cfg.default_scope)
    return MODELS.build(cfg.model)


def _batch(h: int, w: int, num_classes: int, n: int = 2, seed: int = 0):
    """Random uint8 images with masks of blocky random labels (and some 255)."""
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, h, w), generator=gen,
                                    dtype=torch.uint8))
        coarse = torch.randint(0, num_classes, (1, 1, h // 8 + 1, w // 8 + 1),
                               generator=gen)
        label = coarse.repeat_interleave(8, 2).repeat_interleave(8, 3)
        label = label[0, :, :h, :w].clone()
        label[:, :2] = 255  # an ignored band
        sample = SegDataSample(gt_sem_seg=PixelData(data=label))
        sample.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_builds_trains_and_predicts_any_size(name):
    """Each config builds with its backbone outputs wired to the head; the
    training loss is finite; predictions have the input's size even when the
    sides are no multiples of 32."""
    cfg = _cfg(name)
    assert cfg.custom_imports == dict(
        imports=['mmlcnetv2'], allow_failed_imports=False)
    init = cfg.model.backbone.init_cfg
    if name == DEMO:
        assert init is None  # trained from scratch
    else:
        assert init.type == 'Pretrained' and init.prefix == 'backbone.'
    torch.manual_seed(0)
    model = _model(cfg)
    backbone, head = model.backbone, model.decode_head
    num_classes = CONFIGS[name]
    assert type(backbone).__name__ == 'PPLCNetV2'
    assert head.num_classes == num_classes
    # Plain BN everywhere: CPU and single-GPU runs work.
    assert not any(isinstance(m, torch.nn.SyncBatchNorm)
                   for m in model.modules())
    feats = [backbone.out_channels[i] for i in backbone.out_indices]
    if model.with_neck:  # FPN
        assert list(model.neck.in_channels) == feats
    else:  # LR-ASPP: in_index picks the backbone outputs in order
        assert [feats[i] for i in head.in_index] == list(head.in_channels)
        assert type(head).__name__ == 'GlobalPoolLRASPPHead'

    model.train()
    data = model.data_preprocessor(_batch(64, 96, num_classes), True)
    loss = model.loss(**data)['decode.loss_ce']
    assert torch.isfinite(loss) and loss > 0
    model.eval()
    for h, w in ((75, 101), (33, 47)):
        data = model.data_preprocessor(_batch(h, w, num_classes, n=1), False)
        with torch.no_grad():
            (out, ) = model.predict(**data)
        assert out.pred_sem_seg.data.shape == (1, h, w)
        assert out.seg_logits.data.shape == (num_classes, h, w)
        labels = out.pred_sem_seg.data
        assert labels.min() >= 0 and labels.max() < num_classes


def test_missing_pretrained_checkpoint_is_a_clear_error():
    cfg = _cfg('lraspp_lcnetv2-base_8xb4-160k_ade20k-512x512.py')
    cfg.model.backbone.init_cfg.checkpoint = '/nonexistent/lcnetv2.pth'
    model = _model(cfg)
    with pytest.raises(FileNotFoundError, match='/nonexistent/lcnetv2.pth'):
        model.init_weights()


def test_pretrained_backbone_checkpoint_is_loaded(tmp_path):
    """The converter's output layout (``backbone.*`` keys) initialises the
    segmentor's backbone through ``prefix='backbone.'``."""
    cfg = _cfg('lraspp_lcnetv2-base_8xb4-160k_ade20k-512x512.py')
    torch.manual_seed(1)
    source = _model(cfg).backbone
    ckpt = tmp_path / 'cls.pth'
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in source.state_dict().items()}},
               ckpt)
    cfg.model.backbone.init_cfg.checkpoint = str(ckpt)
    torch.manual_seed(2)
    model = _model(cfg)
    model.init_weights()
    for k, v in source.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[k], v), k


def test_a_step_against_the_gradient_lowers_the_loss():
    """As for the detectors (test_det_models.py): the decode head's loss
    falls by the first order along its gradient; AdamW steps stay finite.
    The seed inside ``loss_of`` gives every evaluation the same dropout."""
    cfg = _cfg(DEMO)
    torch.manual_seed(0)
    model = _model(cfg)
    model.train()
    data = model.data_preprocessor(_batch(64, 64, 5, n=2), True)

    def loss_of():
        torch.manual_seed(0)
        return model.loss(**data)['decode.loss_ce']

    eps, predicted, actual = descent_along_gradient(loss_of,
                                                    list(model.parameters()))
    assert actual >= 0.5 * predicted, (eps, predicted, actual)
    losses = adamw_losses(loss_of, model.parameters(), 4)
    print(f'step {eps:g}: loss -{actual:.3g} (first order {predicted:.3g});'
          f' AdamW: {losses}')
    assert np.isfinite(losses).all(), losses


def test_mmseg_inferencer_runs_our_config(tmp_path):
    """``MMSegInferencer`` takes our config and a Runner-style checkpoint and
    returns a mask of the input image's size (here not a multiple of 32)."""
    from mmseg.apis import MMSegInferencer
    cfg = _cfg(DEMO)
    model = _model(cfg)
    ckpt = tmp_path / 'demo.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(
                        classes=cfg.classes, palette=cfg.palette))), ckpt)
    inferencer = MMSegInferencer(
        osp.join(SEG, DEMO), weights=str(ckpt), device='cpu')
    assert inferencer.model.dataset_meta['classes'] == cfg.classes
    img = np.random.default_rng(0).integers(0, 256, (70, 110, 3), np.uint8)
    result = inferencer(img, return_datasamples=True)
    assert result.pred_sem_seg.data.shape == (1, 70, 110)


@pytest.mark.slow
def test_demo_config_trains_and_evaluates_with_runner(tmp_path):
    """The demo config end to end (pipelines with CheckSegMap, IoUMetric,
    checkpointing) through mmengine's Runner on a tiny generated dataset."""
    from mmengine.runner import Runner

    from mmlcnetv2.datasets.generate.shapes_seg import make_shapes_seg
    root = str(tmp_path / 'shapes_seg')
    make_shapes_seg(root, num_train=4, num_val=2, img_size=64)
    cfg = _cfg(DEMO)
    cfg.model.data_preprocessor.size = cfg.crop_size
    cfg.work_dir = str(tmp_path / 'work')
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[name]
        loader.dataset.data_root = root
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_cfg.update(max_iters=4, val_interval=4)
    cfg.default_hooks.logger.interval = 1
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert 0.0 <= metrics['mIoU'] <= 100.0
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_4.pth'))
