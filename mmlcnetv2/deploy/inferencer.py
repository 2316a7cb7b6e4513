# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Run an exported model: image in, results in original-image coordinates."""
import os.path as osp
import queue
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from .preprocess import ImageLike, apply_steps, load_image, normalize, pad_to

from .schema import DeployFormatError, read_meta  # noqa: F401  (re-export)

PRECISION_HINTS = (None, 'f32', 'bf16', 'f16')


def check_meta_fits_model(meta: dict, compiled, path: str) -> None:
    """Fail when ``deploy.json`` does not describe the compiled IR.

    The checks that need the IR: the output names (a ``task`` that is not the
    model's) and, for a classifier, one class name per logit.

    Raises:
        DeployFormatError: Naming ``path`` and the field.
    """
    names = [out.get_names() for out in compiled.outputs]
    if len(names) != len(meta['outputs']) or not all(
            want in got for want, got in zip(meta['outputs'], names)):
        raise DeployFormatError(
            f"{path}: 'task' {meta['task']!r} expects the outputs "
            f"{meta['outputs']}, but model.xml has "
            f'{[sorted(n)[0] if n else "?" for n in names]}')
    if meta['task'] == 'classification':
        width = compiled.outputs[0].get_partial_shape()[-1]
        if width.is_static and width.get_length() != len(meta['classes']):
            raise DeployFormatError(
                f"{path}: 'classes' has {len(meta['classes'])} names but "
                f'model.xml has {width.get_length()} outputs (logits)')


class OpenVINOInferencer:
    """Inference with an IR written by ``tools/deploy.py``.

    Preprocesses like the config's test pipeline (``deploy.json``), runs the
    IR and maps results back to the original image. Safe to call from
    several threads: each call takes its own infer request from a pool.

    Args:
        model_dir (str): The export directory.
        device (str): OpenVINO device. Defaults to ``'CPU'``.
        precision_hint (str, optional): ``INFERENCE_PRECISION_HINT``. None
            keeps OpenVINO's choice, which is bf16 on CPUs with AMX/AVX512-BF16
            (fast, about 2-3 significant digits); ``'f32'`` gives results equal
            to torch's to ~1e-5. Defaults to None.
        ov_config (dict, optional): More compile properties (e.g.
            ``{'INFERENCE_NUM_THREADS': 2}``).

    Example:
        >>> inferencer = OpenVINOInferencer('deploy/cls')  # doctest: +SKIP
        >>> inferencer('demo.jpg')['class_name']  # doctest: +SKIP
        'golden retriever'

    Results (dicts of numpy arrays):
        classification: ``logits``, ``scores`` (softmax), ``label``,
        ``score``, ``class_name``; detection: ``bboxes`` (n, 4) x1y1x2y2 in
        original pixels, ``scores``, ``labels``, ``class_names``;
        segmentation: ``seg`` (H, W) class map at the original size.
    """

    def __init__(self,
                 model_dir: str,
                 device: str = 'CPU',
                 precision_hint: Optional[str] = None,
                 ov_config: Optional[dict] = None) -> None:
        import openvino as ov
        if precision_hint not in PRECISION_HINTS:
            raise ValueError(f'precision_hint must be one of '
                             f'{PRECISION_HINTS}, got {precision_hint!r}')
        self.meta = read_meta(model_dir)
        xml = osp.join(model_dir, 'model.xml')
        if not osp.isfile(xml) or not osp.isfile(osp.join(model_dir,
                                                          'model.bin')):
            raise FileNotFoundError(f'{model_dir!r} lacks model.xml/model.bin')
        self.task = self.meta['task']
        self.classes: List[str] = self.meta['classes']
        self.dynamic = bool(self.meta['input']['dynamic'])
        self.input_size = tuple(self.meta['input']['export_size'])
        config = dict(ov_config or {})
        if precision_hint is not None:
            config['INFERENCE_PRECISION_HINT'] = precision_hint
        self.core = ov.Core()
        self.compiled = self.core.compile_model(xml, device, config)
        self.meta_path = osp.join(model_dir, 'deploy.json')
        check_meta_fits_model(self.meta, self.compiled, self.meta_path)
        self._requests: 'queue.SimpleQueue' = queue.SimpleQueue()

    @property
    def precision(self) -> str:
        """The inference precision the device actually uses."""
        value = self.compiled.get_property('INFERENCE_PRECISION_HINT')
        return value.to_string() if hasattr(value, 'to_string') else str(
            value)

    # ---- low level -------------------------------------------------------
    def infer_tensor(self, x: np.ndarray) -> List[np.ndarray]:
        """Run the IR on a preprocessed ``float32 [B, 3, H, W]`` batch."""
        try:
            request = self._requests.get_nowait()
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
            return [np.copy(request.get_output_tensor(i).data)
                    for i in range(len(self.compiled.outputs))]
        finally:
            self._requests.put(request)

    def preprocess(self, image: ImageLike) -> Dict:
        """Image -> ``input [1, 3, H, W]`` plus what maps results back."""
        img = load_image(image)
        ori_shape = img.shape[:2]
        pre = self.meta['preprocess']
        fit = None if self.dynamic else self.input_size
        img, scale, offset = apply_steps(img, pre['steps'], fit)
        img_shape = img.shape[:2]
        x = normalize(img, pre['mean'], pre['std'], pre['color_order'])
        if self.dynamic:
            d = pre.get('pad_size_divisor', 0)
            if d:
                h, w = img_shape
                x = pad_to(x, (-(-h // d) * d, -(-w // d) * d),
                           pre.get('pad_value', 0.0))
        elif tuple(img_shape) != self.input_size:
            x = pad_to(x, self.input_size, pre.get('pad_value', 0.0))
        return dict(input=x[None], ori_shape=ori_shape, img_shape=img_shape,
                    scale=scale, offset=offset)

    # ---- results ---------------------------------------------------------
    def _check_labels(self, labels: np.ndarray) -> None:
        """A detection label beyond ``classes``: a ``deploy.json`` that does
        not belong to the IR (a detector's class count is not in its
        outputs' shapes, so this cannot be checked at load)."""
        if len(labels) and int(labels.max()) >= len(self.classes):
            raise DeployFormatError(
                f"{self.meta_path}: 'classes' has {len(self.classes)} names "
                f'but the model returned label {int(labels.max())}')

    def postprocess(self, outputs: List[np.ndarray], info: Dict,
                    index: int = 0) -> Dict:
        """Outputs of image ``index`` of a batch -> results (see class doc)."""
        if self.task == 'classification':
            logits = outputs[0][index].astype(np.float64)
            e = np.exp(logits - logits.max())
            scores = e / e.sum()
            label = int(scores.argmax())
            return dict(logits=outputs[0][index], scores=scores, label=label,
                        score=float(scores[label]),
                        class_name=self.classes[label])
        if self.task == 'detection':
            dets, labels = outputs[0][index], outputs[1][index]
            keep = labels >= 0
            dets, labels = dets[keep], labels[keep]
            self._check_labels(labels)
            h, w = info['img_shape']
            boxes = dets[:, :4].copy()
            # As mmdet: clip to the resized (unpadded) image, then rescale.
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
            sx, sy = info['scale']
            boxes /= np.array([sx, sy, sx, sy], np.float32)
            return dict(bboxes=boxes, scores=dets[:, 4],
                        labels=labels.astype(np.int64),
                        class_names=[self.classes[i] for i in labels])
        import cv2
        h, w = info['img_shape']
        seg = outputs[0][index][:h, :w].astype(np.int32)
        oh, ow = info['ori_shape']
        # Nearest resize of the class map (mmseg resizes logits bilinearly,
        # then takes argmax; the two differ only along class borders).
        seg = cv2.resize(seg, (ow, oh), interpolation=cv2.INTER_NEAREST)
        return dict(seg=seg.astype(np.int64))

    def __call__(self, image: Union[ImageLike, Sequence[ImageLike]]):
        """Results of one image (a dict) or of a list of images (a list)."""
        if isinstance(image, (list, tuple)):
            return [self(i) for i in image]
        info = self.preprocess(image)
        return self.postprocess(self.infer_tensor(info['input']), info)
