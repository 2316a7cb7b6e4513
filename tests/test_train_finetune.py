"""The custom-dataset fine-tuning config: trains from a converted checkpoint
on a class-per-folder dataset, and the result works with mmpretrain's
ImageClassificationInferencer; our model index is in mmpretrain's hub."""
import os
import os.path as osp

import pytest
import torch

import mmlcnetv2  # noqa: F401  (registers the model index)
from mmlcnetv2.apis import build_model, load_config
from test_train_helpers import ROOT
from mmlcnetv2.commands import train as train_tool
from mmlcnetv2.datasets.generate.digits import make_digits

FINETUNE = osp.join(ROOT, 'configs', 'cls',
                    'pplcnetv2-base_finetune_custom.py')
IN1K = osp.join(ROOT, 'configs', 'cls', 'pplcnetv2-base_8xb256_in1k.py')
# 64 px instead of 224 to keep the test short
SMALL_IMAGES = {
    'train_dataloader.dataset.pipeline.1.scale': 64,
    'val_dataloader.dataset.pipeline.1.scale': 72,
    'val_dataloader.dataset.pipeline.2.crop_size': 64,
    'test_dataloader.dataset.pipeline.1.scale': 72,
    'test_dataloader.dataset.pipeline.2.crop_size': 64,
}


@pytest.mark.parametrize('arch', ['small', 'base', 'large'])
def test_get_model_by_name(arch):
    import mmpretrain
    name = f'pplcnetv2-{arch}_8xb256_in1k'
    assert name in mmpretrain.list_models('pplcnetv2*')
    model = mmpretrain.get_model(name)
    assert type(model.backbone).__name__ == 'PPLCNetV2'
    assert model.backbone.out_channels[-1] == dict(
        small=768, base=1024, large=1280)[arch]
    assert model.head.fc.out_features == 1000


@pytest.mark.slow
def test_finetune_then_inferencer(tmp_path):
    from mmpretrain import ImageClassificationInferencer
    data = str(tmp_path / 'data')
    make_digits(data, size=64, val_fraction=0.25, limit=30)
    # What tools/convert_paddle_weights.py writes (backbone.*, head.*),
    # here with random ImageNet-model values: no weights can be downloaded.
    converted = str(tmp_path / 'converted.pth')
    torch.save({'state_dict': build_model(load_config(IN1K)).state_dict()},
               converted)
    work = str(tmp_path / 'work')
    options = [f'{k}={v}' for k, v in SMALL_IMAGES.items()] + [
        f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        f'model.backbone.init_cfg.checkpoint={converted}',
        'train_cfg.max_epochs=1', 'train_dataloader.batch_size=8',
        'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
    ]
    assert train_tool.main([FINETUNE, '--work-dir', work,
                            '--cfg-options'] + options) == 0
    logs = [osp.join(d, f) for d, _, fs in os.walk(work) for f in fs
            if f.endswith('.log')]
    log = open(logs[0]).read()
    assert converted in log  # the backbone was initialised from it
    assert 'accuracy/top1' in log
    assert [f for d, _, fs in os.walk(work) for f in fs
            if f == 'training_curve.png']

    cfg = load_config(FINETUNE)
    cfg.merge_from_dict(SMALL_IMAGES)
    inferencer = ImageClassificationInferencer(
        model=cfg, pretrained=osp.join(work, 'epoch_1.pth'), device='cpu')
    image = osp.join(data, 'val', '3', sorted(
        os.listdir(osp.join(data, 'val', '3')))[0])
    result = inferencer(image)[0]
    assert result['pred_class'] in [str(i) for i in range(10)]
    assert len(result['pred_scores']) == 10
