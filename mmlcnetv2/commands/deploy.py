# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Export an OpenMMLab config + checkpoint to OpenVINO IR (and ONNX).

    mmlcnetv2 deploy CONFIG CHECKPOINT --out DIR [--shape H W]
        [--dynamic | --static] [--precision f32|f16|int8] [--calib N] [--onnx]
        [--max-drop F] [--nms graph|host] [--input uint8|float|image]

Writes DIR/model.xml, DIR/model.bin, DIR/deploy.json (and DIR/model.onnx);
the task (classifier / detector / segmentor) comes from the config. The
model is fused (``switch_to_deploy``) before conversion. Run it with
``python tools/infer.py DIR IMAGE`` or ``benchmark_app -m DIR/model.xml``.

DIR must be new, empty, or an earlier export of this tool. Exporting into an
earlier export replaces only the files its deploy.json lists (other files,
such as the pictures tools/infer.py writes to DIR/vis, stay); nothing beside
DIR is touched, and a failed export leaves the earlier one as it was. A
folder holding anything else is refused (exit status 2).
"""
import argparse

from mmengine.config import DictAction


def parse_args(argv=None):
    from mmlcnetv2.names import (EXPORT_PRECISIONS, INPUT_FORMS,
                                 LEGACY_PRECISIONS, NMS_PLACES)
    from mmlcnetv2.cli.args import doc_parser
    parser = doc_parser(__doc__)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, metavar='DIR',
                        help='output folder: new, empty, or an earlier '
                        'export (only its own files are replaced)')
    parser.add_argument('--shape', nargs=2, type=int, metavar=('H', 'W'),
                        help='input size (default: the test pipeline\'s)')
    form = parser.add_mutually_exclusive_group()
    form.add_argument('--dynamic', action='store_true', default=None,
                      help='dynamic batch, height and width (the default '
                      'for detection and segmentation: exact, each image '
                      'padded only to the size divisor as in mmdet/mmseg)')
    form.add_argument('--static', dest='dynamic', action='store_false',
                      help='a fixed 1x3xHxW input (the default for '
                      'classification). Detection/segmentation trade '
                      'parity for speed: every image is padded to HxW, '
                      'where mmdet/mmseg pad only to the size divisor, so '
                      'results differ from torch on images of another '
                      'aspect ratio (see docs/deploy.md)')
    parser.set_defaults(dynamic=None)  # None: per task (see --help above)
    parser.add_argument('--precision', default='f32',
                        choices=EXPORT_PRECISIONS,
                        type=lambda v: LEGACY_PRECISIONS.get(v, v),
                        help='f32: weights f32; f16: weights stored f16 '
                        '(compute chosen by the device); int8: NNCF '
                        'post-training quantization. The earlier spellings '
                        'fp32 and fp16 are accepted')
    parser.add_argument('--calib', type=int, default=300,
                        help='int8: calibration images from the train set')
    parser.add_argument('--max-drop', type=float, metavar='F',
                        help='int8: NNCF accuracy control; the headline '
                        'metric on the val set (top-1, bbox mAP, mIoU, as a '
                        'fraction) may drop by at most F (0.01: one point); '
                        'the layers that cost more stay float (deploy.json: '
                        'calibration.accuracy_control)')
    parser.add_argument('--nms', choices=NMS_PLACES,
                        help='detection only: graph (the default) ends the '
                        'IR in NonMaxSuppression; host ends it at the '
                        'decoded boxes and scores (fixed-size outputs, no '
                        'NMS/NonZero/If op) and OpenVINOInferencer runs the '
                        'NMS, for devices whose plugin lacks '
                        'NonMaxSuppression (GPU, NPU; deploy.json: '
                        'postprocess.nms)')
    parser.add_argument('--input', dest='input_form', default=None,
                        choices=INPUT_FORMS,
                        help='uint8 (the default, but for --static '
                        'detection/segmentation): the IR takes the resized '
                        'uint8 BGR image (NHWC) and does the colour order, '
                        'normalization, layout and padding itself; float: '
                        'the normalized, padded float32 NCHW tensor, for '
                        'users who preprocess themselves; image (dynamic '
                        'detection/segmentation, a one-Resize pipeline): '
                        'the decoded image as it is, resized inside too '
                        '(deploy.json: input.dtype, '
                        'input.preprocess_in_graph)')
    parser.add_argument('--model-api', action=argparse.BooleanOptionalAction,
                        default=None,
                        help='model_api.xml/.bin: the IR for OpenVINO Model '
                        'API that takes the decoded BGR image as it is and '
                        "does the resize, crop and the inferencer's "
                        'postprocessing inside (embedded_processing). '
                        'Written by default where the export has that form '
                        '(uint8 input, NMS in the graph); --model-api '
                        'requires it, --no-model-api leaves it out '
                        '(docs/deploy.md, "OpenVINO Model API")')
    parser.add_argument('--onnx', action='store_true',
                        help='also write model.onnx (checked in onnxruntime)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()  # first: before torch starts threads
    from mmlcnetv2.deploy import export
    from mmlcnetv2.cli import bad_input, bad_input_or_failure
    from mmlcnetv2.compat import ignore_known_upstream_warnings
    ignore_known_upstream_warnings()
    if args.calib < 1:
        return bad_input(f'--calib must be >= 1, got {args.calib}')
    try:
        meta = export(args.config, args.checkpoint, args.out,
                      shape=args.shape, dynamic=args.dynamic,
                      precision=args.precision, calib=args.calib,
                      onnx=args.onnx, cfg_options=args.cfg_options,
                      max_drop=args.max_drop, nms=args.nms,
                      input_form=args.input_form,
                      model_api=args.model_api)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        # Bad input, named: a refused --out folder or checkpoint (both
        # ValueErrors), a missing file, an unsupported pipeline or shape,
        # an --out that another run created or filled meanwhile.
        return bad_input(e)
    except (RuntimeError, NotImplementedError) as e:
        # 2 for a checkpoint that does not fit the config (a UserInputError
        # under export's RuntimeError), 1 for an op OpenVINO cannot convert.
        return bad_input_or_failure(e)
    print(f"checked: {meta['conversion_check']['summary']}")
    shape = meta['input']['shape']
    print(f"wrote {args.out}: {meta['task']}, input {shape}, "
          f"{meta['input']['dtype']}, {args.precision}" + (
              ', NMS on the host' if args.nms == 'host' else '')
          + (', model.onnx' if args.onnx else '')
          + (', model_api.xml' if 'model_api.xml' in meta['files'] else ''))
    if args.model_api is None and meta['model_api']['file'] is None:
        # Not asked for and not written: say why (deploy.json: model_api).
        print(f"no model_api.xml (OpenVINO Model API): "
              f"{meta['model_api']['why_not']}")
    return 0

