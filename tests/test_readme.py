"""The README's commands and snippets run verbatim from a clean clone, in
the order given (issue 26, item 7).

Every ```bash block of README.md is read in order, command by command
(continuation lines joined, comments dropped). Each file or folder a
command names must be in the clean clone (``git ls-files``), be made by an
earlier command, or be clearly the user's own (a placeholder: an
all-capitals word such as ``CONFIG``, ``[...]`` synopsis, or
``path/to/your/...``). What a command makes is read from its own parser:
each tool's ``main`` runs with ``argparse`` stopped right after parsing,
so the options must parse as written, and the outputs are the parsed
``--out``/``--work-dir``/... values (or their defaults: ``tools/train.py``
makes ``work_dirs/<config name>/``, whose last checkpoint must be the one
a later command names). No command edits a tracked file (copy a config,
then edit the copy). The ```python blocks' path strings are checked the
same way; the ones that need no earlier output run (configs are loaded).
The fast commands (``--list``) run.

The docs pages' commands (``DOCS``, read in that order after a clean clone
of their own) are checked the same way, but their snippets do not run: they
name exports and photos that the commands only sketch.
"""
import argparse
import ast
import functools
import importlib.util
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
from typing import Dict, List, Set, Tuple

import pytest

from test_train_helpers import ROOT

README = osp.join(ROOT, 'README.md')
#: The hand-written docs pages with commands, in reading order: a page may
#: use what an earlier one made (weights.md's converted checkpoint, the demos'
#: work dirs of training/detection/segmentation.md for deploy/).
DOCS = ('install.md', 'weights.md', 'backbone.md', 'training.md',
        'detection.md', 'segmentation.md', 'deploy.md', 'deploy/export.md',
        'deploy/inference.md', 'deploy/input-forms.md',
        'deploy/precision-int8.md', 'deploy/nms-host.md',
        'deploy/model-api.md', 'benchmarking.md', 'cpu-classes.md', 'gpu.md')
#: Tokens that stand for the user's own value.
PLACEHOLDER = re.compile(r'^(\[.*|.*\]|[A-Z][A-Z0-9_]*|path/to/your/.*)$')
#: What a path names by its end, besides anything with a '/'.
SUFFIXES = ('.py', '.pth', '.jpg', '.png', '.json', '.jsonl', '.pdparams',
            '.safetensors', '.pkl', '.xml', '.sh', '.yml')
#: Parsed attributes that are a command's outputs.
OUTPUTS = ('out', 'out_json', 'out_dir', 'work_dir', 'show_dir', 'save',
           'tradeoff', 'dst', 'json', 'report')
#: Programs that are not ours: their path arguments are checked only.
OTHER_PROGRAMS = ('benchmark_app', )
#: Tools that also write their data (``tools/demo.py``: the dataset).
WRITES_DATA = ('tools/demo.py', )
#: Commands quick enough to run here (seconds), by tool and arguments.
FAST = (('tools/benchmark.py', '--list'), )


def blocks(lang: str, path: str = README) -> List[Tuple[int, str]]:
    """A page's fenced ``lang`` blocks: (first line number, text)."""
    with open(path) as f:
        text = f.read()
    found = []
    for m in re.finditer(r'^```(\w*)\n(.*?)^```', text, re.M | re.S):
        if m.group(1) == lang:
            found.append((text[:m.start()].count('\n') + 2, m.group(2)))
    return found


def commands(text: str) -> List[List[str]]:
    """The commands of a bash block, as argument lists."""
    out = []
    for line in text.replace('\\\n', ' ').splitlines():
        words = shlex.split(line, comments=True)
        while words and re.match(r'^[A-Z_]+=', words[0]):
            words = words[1:]  # NAME=value before the command
        if words:
            out.append(words)
    return out


def tracked() -> Tuple[Set[str], Set[str]]:
    """The clean clone's files and folders (``git ls-files``)."""
    files = subprocess.run(['git', 'ls-files'], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    folders = {osp.dirname(f) for f in files}
    for folder in list(folders):
        while folder:
            folder = osp.dirname(folder)
            folders.add(folder)
    return set(files), folders


def path_like(word: str) -> bool:
    if word.startswith('-') or '://' in word or '=' in word:
        return False
    return '/' in word or word.endswith(SUFFIXES)


def placeholder(word: str) -> bool:
    """The user's own value: ``CONFIG``, ``[...]``, ``path/to/your/x`` or a
    path under a placeholder folder (``DIR/model.xml``)."""
    return (bool(PLACEHOLDER.match(word)) or '...' in word or '…' in word
            or bool(PLACEHOLDER.match(word.split('/')[0])))


class _Parsed(Exception):
    """Raised in place of running a tool, with its parsed arguments."""

    def __init__(self, namespace: argparse.Namespace) -> None:
        super().__init__()
        self.namespace = namespace


def parse_tool(script: str, argv: List[str]) -> argparse.Namespace:
    """``argv`` as ``script``'s own ``main`` parses it; nothing runs after
    the parsing (``parse_args`` raises with the result)."""
    spec = importlib.util.spec_from_file_location(
        '_readme_' + re.sub(r'\W', '_', script), osp.join(ROOT, script))
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, osp.dirname(osp.join(ROOT, script)))
    original = argparse.ArgumentParser.parse_args

    def parse_args(self, args=None, namespace=None):
        raise _Parsed(original(self, args, namespace))

    argparse.ArgumentParser.parse_args = parse_args
    try:
        spec.loader.exec_module(module)
        module.main(argv)
    except _Parsed as parsed:
        return parsed.namespace
    except SystemExit as e:
        raise AssertionError(f'{script} {" ".join(argv)}: its parser '
                             f'refused the arguments (exit {e.code})')
    finally:
        argparse.ArgumentParser.parse_args = original
        sys.path.remove(osp.dirname(osp.join(ROOT, script)))
    raise AssertionError(f'{script}: main() returned without parsing')


def _relative(path: str) -> str:
    path = osp.normpath(path)
    return osp.relpath(path, ROOT) if osp.isabs(path) else path


class Clone:
    """What a clean clone holds, and what the commands so far made."""

    def __init__(self) -> None:
        self.files, self.folders = tracked()
        self.made: Set[str] = set()
        self.copies: Dict[str, str] = {}  # copy -> the tracked original
        # work dir -> (config, cfg options): the last checkpoint's name.
        self.trained: Dict[str, Tuple[str, List[str]]] = {}

    def exists(self, path: str) -> bool:
        path = osp.normpath(path)
        if path in self.files or path in self.folders:
            return True
        return any(path == m or path.startswith(m + '/') for m in self.made)

    def need(self, path: str, where: str) -> None:
        if placeholder(path) or path.startswith('/'):
            return
        assert self.exists(path), (
            f'{where}: {path!r} is neither in a clean clone nor made by an '
            'earlier command nor a placeholder (path/to/your/...)')
        self.check_checkpoint(path, where)

    def make(self, path: str, where: str) -> None:
        path = osp.normpath(path)
        assert path not in self.files, (
            f'{where}: writes {path!r}, a file of the clone (copy it and '
            'edit the copy)')
        self.made.add(path)

    def check_checkpoint(self, path: str, where: str) -> None:
        """A trained work dir's checkpoint must be its last one."""
        m = re.match(r'^(.*)/(epoch|iter)_(\d+)\.pth$', osp.normpath(path))
        if not m or m.group(1) not in self.trained:
            return
        from mmlcnetv2.apis import load_config
        from mmengine.config import DictAction
        config, options = self.trained[m.group(1)]
        parser = argparse.ArgumentParser()
        parser.add_argument('--cfg-options', nargs='+', action=DictAction)
        opts = parser.parse_args(['--cfg-options'] + options).cfg_options \
            if options else None
        cfg = load_config(osp.join(ROOT, self.copies.get(config, config)),
                          opts)
        by_epoch = 'max_epochs' in cfg.train_cfg
        last = (f"epoch_{cfg.train_cfg['max_epochs']}" if by_epoch else
                f"iter_{cfg.train_cfg['max_iters']}")
        assert f'{m.group(2)}_{m.group(3)}' == last, (
            f'{where}: {path!r}, but {config} trains to {last}.pth')


def check_command(words: List[str], clone: Clone, where: str) -> None:
    """Check one command's paths against ``clone`` and add its outputs."""
    program, args = words[0], words[1:]
    if program == 'srun':  # srun ... python SCRIPT ...
        at = next(i for i, w in enumerate(args) if w.endswith('python'))
        program, args = args[at], args[at + 1:]
    if program == 'make':
        with open(osp.join(ROOT, 'Makefile')) as f:
            targets = re.findall(r'^([\w-]+):', f.read(), re.M)
        for target in args:
            assert target in targets, f'{where}: no make target {target}'
        return
    if program == 'cp':
        clone.need(args[0], where)
        clone.make(args[1], where)
        clone.copies[osp.normpath(args[1])] = osp.normpath(args[0])
        return
    if program == 'sed':
        assert '-i' in args, f'{where}: sed without -i edits nothing'
        clone.need(args[-1], where)
        clone.make(args[-1], where)  # in place: not a tracked file
        return
    if program == 'curl':
        clone.make(args[args.index('-o') + 1], where)
        return
    if program in OTHER_PROGRAMS or (path_like(program)
                                     and not program.endswith('python')):
        if path_like(program):
            clone.need(program, where)  # a script of ours, e.g. tools/x.sh
        for word in args:
            if path_like(word):
                clone.need(word, where)
        return
    assert program in ('bash', 'python') or program.endswith(
        '/bin/python'), f'{where}: the test does not know {program!r}'
    if args[0] == '-m':  # python -m pytest ...: a module, not a script
        return
    script, args = args[0], args[1:]
    clone.need(script, where)
    synopsis = any(placeholder(a) for a in args)
    parsed = None
    if program != 'bash' and script.endswith('.py'):
        try:
            parsed = vars(parse_tool(script, args))
        except AssertionError:
            if not synopsis:  # a synopsis ([--opt X]) need not parse
                raise
    if parsed is None:
        for word in args:
            if path_like(word):
                clone.need(word, where)
        return
    outputs = set()
    for key in OUTPUTS:
        values = parsed.get(key, None)
        values = values if isinstance(values, list) else [values]
        outputs |= {_relative(v) for v in values if isinstance(v, str)}
    if script in WRITES_DATA and parsed.get('data_root'):
        outputs.add(_relative(parsed['data_root']))
    if script == 'tools/train.py' and not parsed.get('work_dir'):
        work_dir = osp.join('work_dirs', osp.splitext(osp.basename(
            parsed['config']))[0])
        outputs.add(work_dir)
        clone.trained[work_dir] = (osp.normpath(parsed['config']),
                                   _cfg_options(args))
    for word in args:
        if path_like(word) and osp.normpath(word) not in outputs:
            clone.need(word, where)
    for path in outputs:
        clone.make(path, where)


def _cfg_options(args: List[str]) -> List[str]:
    if '--cfg-options' not in args:
        return []
    rest = args[args.index('--cfg-options') + 1:]
    return [a for a in rest[:next((i for i, a in enumerate(rest)
                                   if a.startswith('-')), len(rest))]]


def python_paths(code: str) -> Tuple[List[str], List[str]]:
    """The path strings of a python snippet: those it reads, and those it
    writes (keyword arguments named as :data:`OUTPUTS`, e.g. ``out_dir``).
    """
    def paths(nodes) -> List[str]:
        return [n.value for n in nodes
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
                and ' ' not in n.value and path_like(n.value)
                and '::' not in n.value]

    tree = ast.parse(code)
    writes = paths(k.value for k in ast.walk(tree)
                   if isinstance(k, ast.keyword) and k.arg in OUTPUTS)
    reads = [p for p in paths(ast.walk(tree)) if p not in writes]
    return reads, writes


@functools.lru_cache(maxsize=1)
def walk_readme() -> Tuple[Clone, List[Tuple[int, str, bool]]]:
    """Check every bash command and python snippet, in README order.

    Returns:
        The clone after all commands, and each python snippet with whether
        it needs an earlier command's output.
    """
    return walk((README, ))


def walk(pages) -> Tuple[Clone, List[Tuple[int, str, bool]]]:
    """Check the bash commands and python snippets of ``pages``, page by
    page in the given order, each page's in its own order, on one clone."""
    clone = Clone()
    snippets = []
    for page in pages:
        snippets += _walk_page(page, clone)
    return clone, snippets


def _walk_page(page: str, clone: Clone) -> List[Tuple[int, str, bool]]:
    ordered = sorted([(n, 'bash', t) for n, t in blocks('bash', page)] +
                     [(n, 'python', t) for n, t in blocks('python', page)])
    snippets = []
    for line, lang, text in ordered:
        where = f'{osp.relpath(page, ROOT)}:{line}'
        if lang == 'bash':
            for words in commands(text):
                check_command(words, clone, f'{where} `{" ".join(words)}`')
            continue
        paths, writes = python_paths(text)
        for path in paths:
            clone.need(path, where)
        for path in writes:
            clone.make(path, where)
        needs_outputs = any(not placeholder(p) and osp.normpath(p) not in
                            clone.files for p in paths)
        needs_outputs |= any(placeholder(p) for p in paths)
        snippets.append((line, text, needs_outputs))
    return snippets


def test_every_readme_path_is_in_the_clone_or_made_earlier():
    """Each bash command parses with its tool's parser, and every path it
    or a python snippet names is in a clean clone, made by an earlier
    command or the user's own. (It found pplcnetv2-base.pth, demo.jpg,
    deploy/digits-int8 and -f32 used but never made, and the fine-tune
    ``sed`` editing a tracked config in place.)"""
    clone, _ = walk_readme()
    assert clone.made  # the walk saw the commands


def test_every_docs_path_is_in_the_clone_or_made_earlier():
    """The same for the docs pages, read in the order of ``DOCS``: every
    command parses with its tool's parser, and every path it or a python
    snippet names is in a clean clone, made by an earlier command (of this
    page or an earlier one) or the user's own. (It found
    measure_reduced_decode's ``--checkpoint pplcnetv2-base.pth``, a file no
    command makes.)"""
    for page in DOCS:
        assert osp.exists(osp.join(ROOT, 'docs', page)), page
    clone, _ = walk([osp.join(ROOT, 'docs', p) for p in DOCS])
    assert clone.made  # the walk saw the commands


def test_readme_python_snippets_run(tmp_path, monkeypatch):
    """The snippets that need no earlier command's output run: code is
    executed, a config snippet (``_base_`` / ``custom_imports``) is loaded
    from a file outside the clone."""
    from mmlcnetv2.apis import load_config
    _, snippets = walk_readme()
    monkeypatch.chdir(ROOT)
    ran = 0
    for line, text, needs_outputs in snippets:
        if needs_outputs:
            continue
        tree = ast.parse(text)
        if any(isinstance(node, ast.Assign) and any(
                getattr(t, 'id', '') in ('_base_', 'custom_imports')
                for t in node.targets) for node in tree.body):
            path = tmp_path / f'readme_{line}.py'
            path.write_text(text)
            load_config(str(path))
        else:
            exec(compile(text, f'README.md:{line}', 'exec'), {})
        ran += 1
    assert ran >= 3, ran


def test_fast_readme_commands_run():
    """The commands quick enough for a test run, as written (with this
    interpreter for ``.venv/bin/python``)."""
    ran = 0
    for line, text in blocks('bash'):
        for words in commands(text):
            if words[0].endswith('python') and tuple(words[1:]) in FAST:
                out = subprocess.run([sys.executable] + words[1:], cwd=ROOT,
                                     capture_output=True, text=True,
                                     timeout=300)
                assert out.returncode == 0, (line, out.stderr[-2000:])
                assert out.stdout.strip(), line
                ran += 1
    assert ran == len(FAST)


@pytest.mark.parametrize('config', sorted(
    osp.relpath(osp.join(d, f), ROOT)
    for d, _, files in os.walk(osp.join(ROOT, 'configs'))
    for f in files if f.endswith('_custom.py')))
def test_custom_config_copy_loads_anywhere(config, tmp_path):
    """The README says to copy a ``*_custom.py`` config and edit the copy:
    a copy outside ``configs/`` loads (a relative ``_base_`` gave a raw
    Errno 2 there)."""
    from mmlcnetv2.apis import load_config
    copy = tmp_path / osp.basename(config)
    with open(osp.join(ROOT, config)) as f:
        copy.write_text(f.read())
    cfg = load_config(str(copy))
    assert cfg.get('model', None) is not None
