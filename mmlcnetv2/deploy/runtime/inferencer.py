# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Run an exported model: image in, results in original-image coordinates."""
import os.path as osp
import queue
import re
import threading
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np

from ...names import COMPUTE_PRECISIONS
from ..field_checks import DeployFormatError
from ..ir_inputs import IMAGE_INPUT, ir_feed, port_index
from ..manifest.schema import check_num_classes, read_meta
from ..preprocess.host import ImageLike, load_image, prepare
from ..tasks import get_task
from .stream import DEFAULT_WORKERS, Streamed, stream

PRECISION_HINTS = (None, ) + COMPUTE_PRECISIONS

#: Default of ``OpenVINOInferencer(fast_decode=...)``: see docs/deploy.md
#: ("Reduced-size JPEG decoding") for the measurement behind it.
FAST_DECODE = False


#: OpenVINO's devices that run a model on others named after a colon
#: (``AUTO:GPU,CPU``, ``HETERO:GPU,CPU``, ``BATCH:GPU(4)``).
VIRTUAL_DEVICES = ('AUTO', 'MULTI', 'HETERO', 'BATCH')


def check_device(core, device: str) -> None:
    """Fail when ``device`` names no device of this machine.

    OpenVINO's own error for a misspelt device comes from ``compile_model``
    as a traceback; this names the device and those there are.

    Raises:
        ValueError: Naming ``device`` and ``core.available_devices``.
    """
    available = list(core.available_devices)
    base, _, targets = device.partition(':')
    if base in VIRTUAL_DEVICES:
        wanted = [t.split('(')[0] for t in targets.split(',') if t]
    else:
        wanted = [device]
    # 'GPU.1' is one of the available names; 'GPU' is any of them.
    known = set(available) | {d.split('.')[0] for d in available}
    unknown = [d for d in wanted if d not in known]
    if unknown or not device:
        raise ValueError(
            f'device {device!r}: no OpenVINO device '
            f'{unknown[0] if unknown else device!r} on this machine; '
            f'available: {", ".join(available)} (or AUTO, or '
            'AUTO:/HETERO:/MULTI: followed by a comma-separated list of '
            'them)')


def read_ir(core, model_dir: str):
    """The ``ov.Model`` of an export folder's model.xml and model.bin.

    Raises:
        FileNotFoundError: One of them is missing.
        DeployFormatError: OpenVINO cannot read them (a damaged or
            truncated file), named.
    """
    xml = osp.join(model_dir, 'model.xml')
    if not osp.isfile(xml) or not osp.isfile(osp.join(model_dir,
                                                      'model.bin')):
        raise FileNotFoundError(f'{model_dir!r} lacks model.xml/model.bin')
    damaged = (f'{xml}: OpenVINO cannot read the IR: model.xml or model.bin '
               'is damaged or truncated (re-export it with tools/deploy.py)')
    # Only an IR (<net ...>) goes to OpenVINO: other text would be tried by
    # every frontend it has, which log their own errors.
    if _xml_root(xml) != 'net':
        raise DeployFormatError(f'{damaged}; model.xml is not an IR (no '
                                '<net> element)')
    try:
        return core.read_model(xml)
    except RuntimeError as e:  # "Incorrect weights in bin file!", ...
        raise DeployFormatError(f'{damaged}; {_openvino_reason(e)}') \
            from None


def _xml_root(path: str) -> Optional[str]:
    """The root element's tag of an XML file, None if it is not XML (only
    the start of the file is read)."""
    from xml.etree import ElementTree
    try:
        for _, element in ElementTree.iterparse(path, events=('start', )):
            return element.tag
    except (ElementTree.ParseError, UnicodeDecodeError):
        return None
    return None


def _openvino_reason(error: BaseException) -> str:
    """OpenVINO's message without its source locations, on one line."""
    text = ' '.join(str(error).split())
    text = re.sub(r"(Exception from|Check '.*?' failed at) \S+:\d+:\s*", '',
                  text)
    return text[-300:]


def check_meta_fits_model(meta: dict, compiled, path: str,
                          ov_model=None) -> None:
    """Fail when ``deploy.json`` does not describe the compiled IR.

    The checks that need the IR: the output names (a ``task`` that is not the
    model's) and one class name per class of the model (the count the IR
    records, ``ov_model``'s, else the one its output shapes give).

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
    check_num_classes(meta, ov_model,
                      get_task(meta['task']).ir_num_classes(compiled), path)


class OpenVINOInferencer:
    """Inference with an IR written by ``tools/deploy.py``.

    Preprocesses like the config's test pipeline (``deploy.json``), runs the
    IR and maps results back to the original image. Safe to call from
    several threads: each call takes its own infer request from a pool.
    Many images (a list, or :meth:`map` on any iterable) run at the
    device's throughput: an async queue of a THROUGHPUT-hinted compile of
    the same IR, decoding overlapped
    (:mod:`mmlcnetv2.deploy.runtime.stream`), with
    the same results as one by one.

    Args:
        model_dir (str): The export directory.
        device (str): OpenVINO device. Defaults to ``'CPU'``.
        precision_hint (str, optional): ``INFERENCE_PRECISION_HINT``. None
            keeps OpenVINO's choice, which is bf16 on CPUs with AMX/AVX512-BF16
            (fast, about 2-3 significant digits); ``'f32'`` gives results equal
            to torch's to ~1e-5. Defaults to None.
        ov_config (dict, optional): More compile properties (e.g.
            ``{'INFERENCE_NUM_THREADS': 2}``).
        fast_decode (bool): Decode JPEG files much larger than the input at
            1/2, 1/4 or 1/8 size (libjpeg DCT scaling, see
            :mod:`mmlcnetv2.deploy.preprocess.jpeg`); results stay in
            original-image
            coordinates. False decodes at full size as the OpenMMLab test
            pipelines do. Arrays are never affected. Defaults to FAST_DECODE.

    Example:
        >>> inferencer = OpenVINOInferencer('deploy/cls')  # doctest: +SKIP
        >>> inferencer('demo.jpg')['class_name']  # doctest: +SKIP
        'golden retriever'

    Results (dicts of numpy arrays):
        classification: ``logits``, ``scores`` (softmax), ``label``,
        ``score``, ``class_name``; detection: ``bboxes`` (n, 4) x1y1x2y2 in
        original pixels, ``scores``, ``labels``, ``class_names``;
        segmentation: ``seg`` (H, W) class map at the original size.

    A static detection/segmentation IR (``tools/deploy.py --static``) gets
    every image resized to fit its input and padded to it; the test
    pipeline pads only to its size divisor, so the results equal torch's
    only where the two padded shapes agree (``deploy.json``:
    ``input.static_trade``).
    """

    def __init__(self,
                 model_dir: str,
                 device: str = 'CPU',
                 precision_hint: Optional[str] = None,
                 ov_config: Optional[dict] = None,
                 fast_decode: bool = FAST_DECODE) -> None:
        import openvino as ov
        if precision_hint not in PRECISION_HINTS:
            raise ValueError(f'precision_hint must be one of '
                             f'{PRECISION_HINTS}, got {precision_hint!r}')
        self.meta = read_meta(model_dir)
        self.core = ov.Core()
        ov_model = read_ir(self.core, model_dir)
        config = dict(ov_config or {})
        if precision_hint is not None:
            config['INFERENCE_PRECISION_HINT'] = precision_hint
        check_device(self.core, device)
        self._attach(self.core.compile_model(ov_model, device, config),
                     self.meta, osp.join(model_dir, 'deploy.json'),
                     fast_decode)
        check_meta_fits_model(self.meta, self.compiled, self.meta_path,
                              ov_model)
        # What compiles the throughput model of map(), on first use.
        self._source = (ov_model, device, config)

    @classmethod
    def from_compiled(cls, compiled, meta: dict,
                      fast_decode: bool = FAST_DECODE
                      ) -> 'OpenVINOInferencer':
        """The same pre/post-processing around a model compiled elsewhere,
        which has no export folder yet: NNCF's accuracy control hands each
        candidate to its ``validation_fn`` as an ``ov.CompiledModel``.

        Args:
            compiled: An ``ov.CompiledModel`` of the IR ``meta`` describes.
            meta (dict): The ``deploy.json`` content of the export.
        """
        self = cls.__new__(cls)
        self._attach(compiled, meta, 'deploy.json (being exported)',
                     fast_decode)
        return self

    def _attach(self, compiled, meta: dict, meta_path: str,
                fast_decode: bool) -> None:
        self.meta = meta
        self.meta_path = meta_path
        self.task = meta['task']
        self.deploy_task = get_task(self.task)
        self.fast_decode = bool(fast_decode)
        self.classes: List[str] = meta['classes']
        self.dynamic = bool(meta['input']['dynamic'])
        self.input_size = tuple(meta['input']['export_size'])
        self.compiled = compiled
        self._requests: 'queue.SimpleQueue' = queue.SimpleQueue()
        # The IR's own input type: preprocess() makes what the IR takes.
        self._input_dtype = compiled.inputs[port_index(
            compiled.inputs, IMAGE_INPUT)].get_element_type().to_dtype()
        self._source = None  # from_compiled: map() uses ``compiled``
        self._throughput = None
        self._throughput_lock = threading.Lock()

    @property
    def precision(self) -> str:
        """The inference precision the device actually uses."""
        value = self.compiled.get_property('INFERENCE_PRECISION_HINT')
        return value.to_string() if hasattr(value, 'to_string') else str(
            value)

    # ---- low level -------------------------------------------------------
    def infer_tensor(self, x: np.ndarray,
                     img_shape: Optional[np.ndarray] = None
                     ) -> List[np.ndarray]:
        """Run the IR on a prepared batch: :meth:`preprocess`'s ``input``.

        Args:
            x: What the IR takes (``deploy.json``'s ``input``): the
                resized ``uint8 [B, H, W, 3]`` BGR images (the default
                export, which normalizes and pads itself), or the
                normalized, padded ``float32 [B, 3, H, W]`` batch (the
                ``--input float`` form and older exports).
            img_shape: Detection: ``[B, 2]`` (h, w) of each image before
                padding, where boxes are clipped (as mmdet does). Defaults
                to the whole input (no padding). Ignored by IRs without that
                input (classification, segmentation, older exports).
        """
        inputs = self.ir_inputs(x, img_shape)
        try:
            request = self._requests.get_nowait()
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            request.infer(inputs)
            return [np.copy(request.get_output_tensor(i).data)
                    for i in range(len(self.compiled.outputs))]
        finally:
            self._requests.put(request)

    def ir_inputs(self, x: np.ndarray, img_shape=None
                  ) -> Dict[int, np.ndarray]:
        """The IR's inputs for a batch: ``x`` as :meth:`preprocess` made it
        (``info['input']``), and for an IR with an ``img_shape`` input
        (detection, ``--input image``) the ``[B, 2]`` (h, w) of each image
        before padding (``img_shape``; default: the whole input, in the
        IR's layout); keyed by the inputs' indices, found by name
        (:func:`~mmlcnetv2.deploy.ir_inputs.ir_feed`).

        Example:
            >>> info = inferencer.preprocess('demo.jpg')  # doctest: +SKIP
            >>> inferencer.ir_inputs(info['input'], [info['img_shape']])
        """
        if img_shape is None:
            nhwc = self.meta['input'].get('layout', 'NCHW') == 'NHWC'
            img_shape = [x.shape[1:3] if nhwc else x.shape[2:4]] * len(x)
        return ir_feed(self.compiled.inputs,
                       np.ascontiguousarray(x, dtype=self._input_dtype),
                       img_shape)

    def preprocess(self, image: ImageLike) -> Dict:
        """Image -> ``input`` (what the IR takes: ``uint8 [1, H, W, 3]``,
        or ``float32 [1, 3, H, W]`` for a float-input export), ``img_shape``,
        ``scale``, ``offset`` and ``ori_shape``
        (:func:`~mmlcnetv2.deploy.preprocess.host.prepare`; ``fast_decode``: a
        large JPEG path may be decoded at reduced size)."""
        return prepare(image, self.meta, fast_decode=self.fast_decode)

    # ---- results ---------------------------------------------------------
    def postprocess(self, outputs: List[np.ndarray], info: Dict,
                    index: int = 0) -> Dict:
        """Outputs of image ``index`` of a batch -> results (see class doc)."""
        return self.deploy_task.postprocess(outputs, info, index, self.meta,
                                            self.meta_path)

    # ---- many images -------------------------------------------------
    def throughput_model(self):
        """The IR compiled with ``PERFORMANCE_HINT: THROUGHPUT`` (once, on
        first use; the same device, precision hint and ``ov_config``, whose
        own hint or streams win). :meth:`from_compiled`: its model."""
        with self._throughput_lock:
            if self._throughput is None:
                if self._source is None:
                    self._throughput = self.compiled
                else:
                    ov_model, device, config = self._source
                    self._throughput = self.core.compile_model(
                        ov_model, device,
                        dict({'PERFORMANCE_HINT': 'THROUGHPUT'}, **config))
            return self._throughput

    def stream(self, images: Iterable[ImageLike], keep_images: bool = False,
               workers: int = DEFAULT_WORKERS,
               jobs: Optional[int] = None) -> Iterator[Streamed]:
        """Every image at the throughput model's pace; items in input order.

        The building block of :meth:`map` and ``tools/infer.py``: an image
        that cannot be read or processed comes back with its ``error`` and
        the others go on.

        Args:
            images: Paths or BGR arrays, any iterable (read a few ahead).
            keep_images (bool): Also hand back the decoded BGR image
                (``item.prepared[0]``), e.g. to draw on it; paths are then
                decoded at full size (no ``fast_decode``).
            workers (int): Decoding/preprocessing threads.
            jobs (int, optional): Requests in flight. Defaults to twice
                the model's ``OPTIMAL_NUMBER_OF_INFER_REQUESTS``
                (:func:`~mmlcnetv2.deploy.runtime.stream.default_jobs`).

        Yields:
            Streamed: ``index``, ``item``, ``prepared`` (the info of
            :meth:`preprocess`, or ``(image, info)`` with ``keep_images``),
            ``result`` (the dict of :meth:`__call__`) or ``error``.
        """
        if keep_images:
            def prepare(image):
                img = load_image(image)
                return img, self.preprocess(img)
        else:
            prepare = self.preprocess

        def info_of(prepared) -> Dict:
            return prepared[1] if keep_images else prepared

        def to_inputs(prepared) -> Dict[int, np.ndarray]:
            info = info_of(prepared)
            return self.ir_inputs(info['input'], [info['img_shape']])

        for done in stream(self.throughput_model(), images, prepare,
                           to_inputs, jobs=jobs, workers=workers):
            if done.error is None:
                try:
                    done.result = self.postprocess(done.outputs,
                                                   info_of(done.prepared))
                except Exception as e:  # noqa: BLE001  (this image only)
                    done.error = e
            yield done

    def map(self, images: Iterable[ImageLike],
            return_exceptions: bool = False, **kwargs) -> Iterator:
        """Results of many images, in input order, at the throughput of
        the device (see :meth:`stream`); the same as ``self(image)`` for
        each.

        Args:
            images: Paths or BGR arrays, any iterable.
            return_exceptions (bool): Yield an image's exception in place of
                its results (as ``asyncio.gather`` does) instead of raising
                it.
            **kwargs: ``workers``, ``jobs`` of :meth:`stream`.

        Example:
            >>> for result in inferencer.map(paths):  # doctest: +SKIP
            ...     print(result['class_name'])
        """
        for done in self.stream(images, **kwargs):
            if done.error is None:
                yield done.result
            elif return_exceptions:
                yield done.error
            else:
                raise done.error

    def __call__(self, image: Union[ImageLike, Sequence[ImageLike]]):
        """Results of one image (a dict) or of a list of images (a list,
        through :meth:`map`)."""
        if isinstance(image, (list, tuple)):
            return list(self.map(image))
        info = self.preprocess(image)
        return self.postprocess(
            self.infer_tensor(info['input'], [info['img_shape']]), info)
