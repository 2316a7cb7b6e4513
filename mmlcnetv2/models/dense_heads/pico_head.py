# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""PicoHead: PicoDet's GFL-style head on mmdet's RTMDet machinery."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import DepthwiseSeparableConvModule
from mmdet.models.dense_heads import RTMDetHead
from mmdet.models.dense_heads.gfl_head import Integral
from mmdet.models.utils import multi_apply
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.structures.bbox import distance2bbox
from mmdet.utils import InstanceList, OptInstanceList, reduce_mean
from mmengine.config import ConfigDict
from mmengine.model import bias_init_with_prob, normal_init
from mmengine.registry import MODELS  # root: seen by mmdet
from torch import Tensor


@MODELS.register_module()
class PicoHead(RTMDetHead):
    """An anchor-free GFL-family head with one depthwise tower per level.

    As PaddleDetection's PicoDet head: every level has its own tower of
    ``stacked_convs`` depthwise-separable convs (``kernel_size`` depthwise +
    1x1 pointwise, each with BN and activation) whose output feeds both the
    classification and the box branch (a 1x1 conv each, which is the same as
    PicoDet's one shared 1x1 conv split in two). Boxes are distances from the
    cell centre to the four sides, each a discrete distribution over
    ``0..reg_max`` strides (GFL); the expectation times the stride is the
    distance.

    Training, from mmdet's parts: points from ``MlvlPointGenerator``, the
    ``DynamicSoftLabelAssigner`` of RTMDet (a SimOTA-style dynamic top-k with
    soft IoU labels), quality focal loss on the classification scores with the
    IoU of the predicted box as the soft target, GIoU on the decoded boxes and
    distribution focal loss on the distributions, both weighted by that IoU.
    Inference: ``predict_by_feat`` of mmdet's ``BaseDenseHead`` on the decoded
    distances (scores, NMS, rescaling to the original image), so mmdet's
    metrics and visualisers work unchanged.

    Args:
        num_classes (int): Object classes, background excluded.
        in_channels (int): Channels of every input level.
        feat_channels (int): Channels of the towers. Defaults to 96.
        stacked_convs (int): Depthwise-separable convs per tower.
            Defaults to 2 (PicoDet-S; M and L use 4).
        kernel_size (int): Depthwise kernel of the towers. Defaults to 5.
        reg_max (int): The distributions cover ``0..reg_max`` strides.
            Defaults to 7, as PicoDet.
        norm_cfg (dict): Norm layer of the towers. Defaults to BN.
        act_cfg (dict): Activation of the towers. Defaults to HSwish.
        loss_dfl (dict): Distribution focal loss.
        **kwargs: Everything else of :class:`mmdet.models.RTMDetHead` (and
            its bases): ``anchor_generator``, ``bbox_coder``, ``loss_cls``,
            ``loss_bbox``, ``train_cfg``, ``test_cfg``.

    Example:
        >>> import torch
        >>> head = PicoHead(num_classes=3, in_channels=32, feat_channels=32)
        >>> feats = [torch.rand(1, 32, 40 // 2**i, 40 // 2**i)
        ...          for i in range(4)]
        >>> cls_scores, bbox_dists = head(feats)
        >>> tuple(cls_scores[0].shape), tuple(bbox_dists[0].shape)
        ((1, 3, 40, 40), (1, 32, 40, 40))
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 feat_channels: int = 96,
                 stacked_convs: int = 2,
                 kernel_size: int = 5,
                 reg_max: int = 7,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='HSwish'),
                 anchor_generator: dict = dict(
                     type='MlvlPointGenerator',
                     offset=0.5,
                     strides=[8, 16, 32, 64]),
                 bbox_coder: dict = dict(type='DistancePointBBoxCoder'),
                 loss_cls: dict = dict(
                     type='QualityFocalLoss',
                     use_sigmoid=True,
                     beta=2.0,
                     loss_weight=1.0),
                 loss_bbox: dict = dict(type='GIoULoss', loss_weight=2.0),
                 loss_dfl: dict = dict(
                     type='DistributionFocalLoss', loss_weight=0.5),
                 init_cfg: dict = dict(
                     type='Normal', layer='Conv2d', std=0.01),
                 **kwargs) -> None:
        if reg_max < 1:
            raise ValueError(f'reg_max must be >= 1, got {reg_max}')
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        if stacked_convs < 1:
            raise ValueError(
                f'stacked_convs must be >= 1, got {stacked_convs}')
        # _init_layers (called by the base __init__) needs these.
        self.reg_max = reg_max
        self.kernel_size = kernel_size
        super().__init__(
            num_classes,
            in_channels,
            with_objectness=False,
            feat_channels=feat_channels,
            stacked_convs=stacked_convs,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            anchor_generator=anchor_generator,
            bbox_coder=bbox_coder,
            loss_cls=loss_cls,
            loss_bbox=loss_bbox,
            init_cfg=init_cfg,
            **kwargs)
        self.integral = Integral(reg_max)
        self.loss_dfl = MMDET_MODELS.build(loss_dfl)

    def _init_layers(self) -> None:
        """One depthwise tower and two 1x1 predictors per level."""
        num_levels = len(self.prior_generator.strides)
        self.towers = nn.ModuleList()
        for _ in range(num_levels):
            self.towers.append(
                nn.Sequential(*[
                    DepthwiseSeparableConvModule(
                        self.in_channels if i == 0 else self.feat_channels,
                        self.feat_channels,
                        self.kernel_size,
                        padding=self.kernel_size // 2,
                        norm_cfg=self.norm_cfg,
                        act_cfg=self.act_cfg)
                    for i in range(self.stacked_convs)
                ]))
        self.cls_preds = nn.ModuleList(
            nn.Conv2d(self.feat_channels, self.cls_out_channels, 1)
            for _ in range(num_levels))
        self.reg_preds = nn.ModuleList(
            nn.Conv2d(self.feat_channels, 4 * (self.reg_max + 1), 1)
            for _ in range(num_levels))

    def init_weights(self) -> None:
        """Small normal weights, classification bias for a prior of 0.01."""
        # Skip RTMDetHead's (it initialises its own layers): init_cfg only.
        super(RTMDetHead, self).init_weights()
        bias_cls = bias_init_with_prob(0.01)
        for cls_pred, reg_pred in zip(self.cls_preds, self.reg_preds):
            normal_init(cls_pred, std=0.01, bias=bias_cls)
            normal_init(reg_pred, std=0.01)

    def forward(self, feats: Sequence[Tensor]) -> Tuple[tuple, tuple]:
        """Per level: class logits (N, C, H, W) and box distribution logits
        (N, 4 * (reg_max + 1), H, W)."""
        if len(feats) != len(self.towers):
            raise ValueError(
                f'PicoHead was built for {len(self.towers)} levels (strides '
                f'{[s[0] for s in self.prior_generator.strides]}), got '
                f'{len(feats)} feature maps')
        cls_scores, bbox_dists = [], []
        for x, tower, cls_pred, reg_pred in zip(feats, self.towers,
                                                self.cls_preds,
                                                self.reg_preds):
            feat = tower(x)
            cls_scores.append(cls_pred(feat))
            bbox_dists.append(reg_pred(feat))
        return tuple(cls_scores), tuple(bbox_dists)

    def _distances(self, bbox_dist: Tensor, stride: int) -> Tensor:
        """(N, 4 * (reg_max + 1), H, W) logits -> (N, H * W, 4) distances in
        pixels (the expectation of each side's distribution, times stride)."""
        n = bbox_dist.shape[0]
        flat = bbox_dist.permute(0, 2, 3, 1).reshape(-1, 4 * (self.reg_max + 1))
        return self.integral(flat).reshape(n, -1, 4) * stride

    def _expectation(self, dist: Tensor) -> Tensor:
        """``(N, 4 * (reg_max + 1), L)`` logits -> ``(N, 4, L)`` expected
        distances, in strides.

        What ``_distances`` computes, but over the bins where they lie
        (channels) instead of permuted to rows of ``reg_max + 1``: the same
        numbers; in an OpenVINO graph the softmax over rows of 8 was the
        largest part of decoding (0.25 of 1.7 ms at 320, 2 threads; now
        0.07). The loss keeps ``_distances``: its rows of 8 are free to
        permute from channels-last training tensors, and this form made the
        demo's training step 3-8 % slower there.
        """
        bins = self.reg_max + 1
        n, _, length = dist.shape
        prob = dist.reshape(n, 4, bins, length).softmax(2)
        return torch.matmul(self.integral.project.view(1, bins),
                            prob).reshape(n, 4, length)

    def decode_distances(self, bbox_dists: Sequence[Tensor]) -> List[Tensor]:
        """Box distributions -> distance maps, per level.

        What ``bbox_coder`` (``DistancePointBBoxCoder``) decodes: the
        distances from each cell centre to the four sides, in pixels, laid
        out as the box predictions of other dense heads; mmdet's
        ``predict_by_feat`` starts from these.

        Args:
            bbox_dists (Sequence[Tensor]): Per level, the
                ``(N, 4 * (reg_max + 1), H, W)`` distribution logits of
                :meth:`forward`.

        Returns:
            list[Tensor]: Per level, ``(N, 4, H, W)`` distances.

        Example:
            >>> import torch
            >>> head = PicoHead(num_classes=3, in_channels=8, feat_channels=8)
            >>> dists = [torch.zeros(1, 32, 4, 4) for _ in range(4)]
            >>> maps = head.decode_distances(dists)
            >>> tuple(maps[0].shape), float(maps[0][0, 0, 0, 0])  # 3.5 * 8
            ((1, 4, 4, 4), 28.0)
        """
        return [
            self._expectation(dist.flatten(2)).reshape(dist.shape[0], 4,
                                                       *dist.shape[2:]) *
            stride[0]
            for dist, stride in zip(bbox_dists, self.prior_generator.strides)
        ]

    def distances_in_strides(self, bbox_dists: Sequence[Tensor]) -> Tensor:
        """All levels' expected distances at once, ``(N, 4, sum H * W)``, in
        units of each level's stride (levels after one another, cells
        row-major: mmdet's prior order). One softmax and one ``MatMul`` for
        all levels: the detection export
        (:class:`~mmlcnetv2.deploy.DetectorExport`) decodes from these,
        where each node costs a few microseconds whatever its size.

        Example:
            >>> import torch
            >>> head = PicoHead(num_classes=3, in_channels=8, feat_channels=8)
            >>> dists = [torch.zeros(1, 32, s, s) for s in (4, 2, 1, 1)]
            >>> head.distances_in_strides(dists).shape
            torch.Size([1, 4, 22])
        """
        return self._expectation(torch.cat([d.flatten(2) for d in bbox_dists],
                                           dim=2))

    def loss_by_feat(self,
                     cls_scores: List[Tensor],
                     bbox_preds: List[Tensor],
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None
                     ) -> dict:
        """QFL + GIoU + DFL; ``bbox_preds`` are the distribution logits."""
        num_imgs = len(batch_img_metas)
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        anchor_list, valid_flag_list = self.get_anchors(
            featmap_sizes, batch_img_metas, device=cls_scores[0].device)
        flatten_cls_scores = torch.cat([
            cls_score.permute(0, 2, 3, 1).reshape(num_imgs, -1,
                                                  self.cls_out_channels)
            for cls_score in cls_scores
        ], 1)
        decoded_bboxes = [
            distance2bbox(priors, self._distances(dist, stride[0]))
            for priors, dist, stride in zip(
                anchor_list[0], bbox_preds, self.prior_generator.strides)
        ]
        targets = self.get_targets(
            flatten_cls_scores,
            torch.cat(decoded_bboxes, 1),
            anchor_list,
            valid_flag_list,
            batch_gt_instances,
            batch_img_metas,
            batch_gt_instances_ignore=batch_gt_instances_ignore)
        (priors_list, labels_list, label_weights_list, bbox_targets_list,
         assign_metrics_list, _) = targets

        (losses_cls, losses_bbox, losses_dfl, cls_avg_factors,
         bbox_avg_factors) = multi_apply(
             self._loss_by_feat_level, cls_scores, decoded_bboxes,
             bbox_preds, priors_list, labels_list, label_weights_list,
             bbox_targets_list, assign_metrics_list,
             self.prior_generator.strides)

        cls_avg_factor = reduce_mean(sum(cls_avg_factors)).clamp_(min=1).item()
        bbox_avg_factor = reduce_mean(
            sum(bbox_avg_factors)).clamp_(min=1).item()
        return dict(
            loss_cls=[x / cls_avg_factor for x in losses_cls],
            loss_bbox=[x / bbox_avg_factor for x in losses_bbox],
            loss_dfl=[x / bbox_avg_factor for x in losses_dfl])

    def _loss_by_feat_level(self, cls_score: Tensor, decoded_bboxes: Tensor,
                            bbox_dist: Tensor, priors: Tensor,
                            labels: Tensor, label_weights: Tensor,
                            bbox_targets: Tensor, assign_metrics: Tensor,
                            stride: Tuple[int, int]) -> tuple:
        """Un-normalised losses of one level (sums, weighted by the IoU)."""
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(
            -1, self.cls_out_channels)
        labels = labels.reshape(-1)
        assign_metrics = assign_metrics.reshape(-1)
        loss_cls = self.loss_cls(
            cls_score, (labels, assign_metrics),
            label_weights.reshape(-1),
            avg_factor=1.0)

        pos_inds = ((labels >= 0) &
                    (labels < self.num_classes)).nonzero().squeeze(1)
        decoded_bboxes = decoded_bboxes.reshape(-1, 4)
        bbox_dist = bbox_dist.permute(0, 2, 3, 1).reshape(-1, self.reg_max + 1)
        if len(pos_inds) == 0:
            zero = decoded_bboxes.sum() * 0 + bbox_dist.sum() * 0
            return (loss_cls, zero, zero, assign_metrics.sum(),
                    assign_metrics.new_tensor(0.))
        weight = assign_metrics[pos_inds]
        pos_targets = bbox_targets.reshape(-1, 4)[pos_inds]
        loss_bbox = self.loss_bbox(
            decoded_bboxes[pos_inds], pos_targets, weight=weight,
            avg_factor=1.0)
        # DFL: the target distance of each side, in strides, is a point
        # between two bins of the distribution.
        pos_points = priors.reshape(-1, 4)[pos_inds, :2] / stride[0]
        dist_targets = self.bbox_coder.encode(pos_points,
                                              pos_targets / stride[0],
                                              self.reg_max)
        pos_dist = bbox_dist.reshape(-1, 4, self.reg_max + 1)[pos_inds]
        loss_dfl = self.loss_dfl(
            pos_dist.reshape(-1, self.reg_max + 1),
            dist_targets.reshape(-1),
            weight=weight[:, None].expand(-1, 4).reshape(-1),
            avg_factor=4.0)
        return (loss_cls, loss_bbox, loss_dfl, assign_metrics.sum(),
                weight.sum())

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        score_factors: Optional[List[Tensor]] = None,
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[ConfigDict] = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """mmdet's ``predict_by_feat`` on the distances the distributions
        decode to (boxes in the input image, or the original one if
        ``rescale``)."""
        return super().predict_by_feat(
            cls_scores,
            self.decode_distances(bbox_preds),
            score_factors=None,
            batch_img_metas=batch_img_metas,
            cfg=cfg,
            rescale=rescale,
            with_nms=with_nms)
