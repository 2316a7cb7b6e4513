# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""``mmlcnetv2 COMMAND ...``: the console command the package installs.

Each command is the ``main(argv)`` of one module, which parses its own
options (``mmlcnetv2 COMMAND --help``); ``tools/*.py`` in a checkout are
thin scripts around the same functions (docs/commands.md lists both).
Only the module of the command given is imported, so ``mmlcnetv2 --help``
and ``mmlcnetv2 COMMAND --help`` stay quick.

Example:
    >>> main(['convert', 'model.safetensors', 'out.pth', '--arch', 'base'])
    ... # doctest: +SKIP
"""
import argparse
import importlib
import importlib.util
import os
import os.path as osp
import sys
from typing import Callable, Dict, NamedTuple, Optional, Sequence

from ..cli import BAD_INPUT, bad_input


class Command(NamedTuple):
    """A command: the module whose ``main(argv)`` runs it, the checkout's
    script that does the same, and one line for ``mmlcnetv2 --help``."""
    module: str
    script: str
    summary: str


#: The commands, in the order of a project's life.
COMMANDS: Dict[str, Command] = {
    'train': Command('mmlcnetv2.commands.train', 'tools/train.py',
                     'train a config with mmengine\'s Runner'),
    'test': Command('mmlcnetv2.commands.test', 'tools/test.py',
                    'evaluate a checkpoint on the config\'s test set'),
    'deploy': Command('mmlcnetv2.commands.deploy', 'tools/deploy.py',
                      'export a config + checkpoint to OpenVINO IR'),
    'deploy-test': Command('mmlcnetv2.commands.deploy_test',
                           'tools/deploy_test.py',
                           'evaluate an export on the config\'s test set'),
    'infer': Command('mmlcnetv2.commands.infer', 'tools/infer.py',
                     'run an export on images and draw the results'),
    'convert': Command('mmlcnetv2.commands.convert',
                       'tools/convert_weights.py',
                       'convert PaddleClas / timm weights to a checkpoint'),
    'reparameterize': Command('mmlcnetv2.commands.reparameterize',
                              'tools/reparameterize.py',
                              'save a fused (deploy) checkpoint'),
    'demo': Command('mmlcnetv2.commands.demo', 'tools/demo.py',
                    'train and evaluate the shapes detector demo'),
    'benchmark': Command('benchmarks.cli', 'tools/benchmark.py',
                         'CPU latency against the anchors (needs a '
                         'checkout)'),
    'make-shapes': Command('mmlcnetv2.datasets.generate.shapes',
                           'tools/data/make_shapes.py',
                           'write the shapes detection dataset'),
    'make-shapes-seg': Command('mmlcnetv2.datasets.generate.shapes_seg',
                               'tools/data/make_shapes_seg.py',
                               'write the shapes segmentation dataset'),
    'make-digits': Command('mmlcnetv2.datasets.generate.digits',
                           'tools/data/make_digits.py',
                           'write the handwritten digits dataset'),
}

#: The command whose code lives in the checkout only (``benchmarks/`` is
#: not installed with the package).
CHECKOUT_ONLY = 'benchmarks'


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``mmlcnetv2 [--help | --version] COMMAND``."""
    from ..version import __version__
    width = max(map(len, COMMANDS))
    listing = '\n'.join(f'  {name:{width}s}  {c.summary}'
                        for name, c in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog='mmlcnetv2',
        description='PP-LCNetV2 for OpenMMLab: train, evaluate, export and '
        'run models on CPU.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f'commands:\n{listing}\n\n"mmlcnetv2 COMMAND --help" shows a '
        'command\'s options; in a checkout,\ntools/<script>.py takes the '
        'same options (docs/commands.md).')
    parser.add_argument('--version', action='version',
                        version=f'mmlcnetv2 {__version__}')
    parser.add_argument('command', choices=list(COMMANDS), metavar='COMMAND',
                        help='one of the commands below')
    return parser


def command_main(name: str) -> Callable[..., int]:
    """The ``main`` of command ``name``.

    ``benchmark`` runs from a checkout only: its ``benchmarks`` package is
    found on the path or in the current folder.

    Raises:
        ModuleNotFoundError: ``benchmarks`` is neither.
    """
    module = COMMANDS[name].module
    if module.split('.')[0] == CHECKOUT_ONLY and \
            importlib.util.find_spec(CHECKOUT_ONLY) is None and \
            osp.isfile(osp.join(os.getcwd(), CHECKOUT_ONLY, '__init__.py')):
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(module).main


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``mmlcnetv2 COMMAND [options]``; returns the exit status (2 with
    one line on stderr for an unknown command)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        # --help, --version, or argparse's exit 2 naming the bad COMMAND
        build_parser().parse_args(argv)
        return BAD_INPUT
    name, options = argv[0], argv[1:]
    try:
        run = command_main(name)
    except ModuleNotFoundError as e:
        if e.name != CHECKOUT_ONLY:
            raise
        return bad_input(f'mmlcnetv2 {name} needs a checkout of the '
                         'repository (its benchmarks/ folder is not '
                         'installed with the package): run it from the '
                         f'checkout\'s root, or {COMMANDS[name].script}')
    # argparse names the program after sys.argv[0]: "mmlcnetv2 train".
    program = sys.argv[0]
    sys.argv[0] = f'mmlcnetv2 {name}'
    try:
        return run(options)
    finally:
        sys.argv[0] = program
