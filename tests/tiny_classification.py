"""A tiny in-memory classification task for tests that need a real Runner."""
import torch
from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS
from mmpretrain.structures import DataSample


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
