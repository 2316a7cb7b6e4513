# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Weights named by a URL or a Hugging Face hub id, fetched once into the
cache every PyTorch user already has.

- ``https://…/PPLCNetV2_base_ssld_pretrained.pdparams`` (PaddleClas's,
  PaddleX's, or any URL): downloaded by ``torch.hub.download_url_to_file``
  to ``torch.hub.get_dir()/checkpoints/<file name>``
  (``$TORCH_HOME/hub/checkpoints``), where mmengine's and torchvision's
  downloads go too;
- ``timm/lcnetv2_base.ssld_in1k`` or ``hf-hub:<org>/<repo>`` (timm's
  spelling): the repo's ``model.safetensors`` through ``huggingface_hub``,
  as timm's ``pretrained=True`` gets it (its cache under ``HF_HOME``;
  ``HF_HUB_OFFLINE=1`` reads only that cache).

A cached file is used without any request. ``http://`` URLs are accepted
as ``https://`` ones are: the URL is the user's own choice (a local mirror,
a test server), and the file is read executing nothing from it
(:mod:`.files`), so a tampered download can only give wrong weights.

The cache never holds a partial file: urllib returns a body cut short by
a dropped connection without an error (measured with Python 3.11's
``http.client``), and torch.hub moves whatever it got into place; so the
download goes to a temporary file, is read back completely, and only a
readable weights file is renamed into the cache. Any failure is one line
(:class:`WeightsDownloadError`) naming the URL, the cache path to put the
file at, and the command that does it.

The download is our own urllib loop rather than torch.hub's
``download_url_to_file``: that has no timeout (a server that sends headers
and then stalls hung ``train.py`` forever) and leaves its own
``.<uuid>.partial`` file behind when killed. Connecting and every read give
up after :data:`TIMEOUT_ENV` seconds (default :data:`DEFAULT_TIMEOUT`), and
the bytes go straight into the temporary file of
:func:`~mmlcnetv2.utils.atomic.atomic_file`, which a later run cleans.

A cached file that is not readable weights (damaged on disk, or put there
by hand) is named as the cached download, with the command that deletes it.
"""
import os
import os.path as osp
import sys
from http.client import HTTPException
from typing import Optional
from urllib.parse import urlparse

from mmengine.logging import print_log

from ..errors import UserInputError

URL_SCHEMES = ('https://', 'http://')
HUB_PREFIX = 'hf-hub:'
# timm's own organisation on the hub: ``timm/<model>.<tag>`` is how its
# model cards name the weights (``pretrained_cfg['hf_hub_id']``).
TIMM_HUB_ORG = 'timm/'
# The file timm's pretrained=True reads from a hub repo.
HUB_FILENAME = 'model.safetensors'
#: Seconds to connect and to wait for each block of a download.
TIMEOUT_ENV = 'MMLCNETV2_DOWNLOAD_TIMEOUT'
DEFAULT_TIMEOUT = 60.0
_BLOCK = 1 << 20


class WeightsDownloadError(UserInputError):
    """Weights named by URL or hub id that could not be fetched."""


def hub_repo(checkpoint: str) -> Optional[str]:
    """The Hugging Face repo ``checkpoint`` names, or None.

    ``hf-hub:<org>/<repo>`` always; ``timm/<model>.<tag>`` unless a local
    path of that name exists (a local file wins).
    """
    if checkpoint.startswith(HUB_PREFIX):
        return checkpoint[len(HUB_PREFIX):]
    if checkpoint.startswith(TIMM_HUB_ORG) and not osp.exists(checkpoint):
        return checkpoint
    return None


def is_remote(checkpoint: str) -> bool:
    """Whether :func:`fetch_weights` downloads ``checkpoint``."""
    return checkpoint.startswith(URL_SCHEMES) or hub_repo(
        checkpoint) is not None


def url_cache_path(url: str) -> str:
    """Where ``url`` is cached: torch.hub's ``checkpoints`` folder and the
    URL's file name, as ``torch.hub.load_state_dict_from_url`` has it."""
    from torch.hub import get_dir
    name = osp.basename(urlparse(url).path)
    if not name:
        raise WeightsDownloadError(
            f'weights URL {url!r} names no file (it must '
            'end in the weights file\'s name, e.g. .../model.pdparams)')
    return osp.join(get_dir(), 'checkpoints', name)


def _reason(error: BaseException) -> str:
    """``Type: first line`` of ``error``: the message stays one line."""
    from urllib.error import HTTPError, URLError
    if isinstance(error, URLError) and not isinstance(
            error, HTTPError) and isinstance(error.reason, BaseException):
        error = error.reason  # not "<urlopen error [Errno 111] ...>"
    lines = str(error).strip().splitlines()
    return f'{type(error).__name__}: {lines[0] if lines else ""}'


def download_timeout() -> float:
    """Seconds from :data:`TIMEOUT_ENV` (default :data:`DEFAULT_TIMEOUT`).

    Raises:
        WeightsDownloadError: Not a positive number.
    """
    text = os.environ.get(TIMEOUT_ENV, '').strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = float('nan')
    if not 0 < value < float('inf'):
        raise WeightsDownloadError(
            f'{TIMEOUT_ENV}={text!r}: must be a positive number of seconds '
            f'(default {DEFAULT_TIMEOUT:g})')
    return value


def _copy_url(url: str, dst: str, timeout: float) -> None:
    """The body of ``url`` into the file ``dst``; connecting and each read
    give up after ``timeout`` seconds (``TimeoutError``)."""
    from urllib.request import Request, urlopen

    from tqdm import tqdm
    request = Request(url, headers={'User-Agent': 'mmlcnetv2'})
    with urlopen(request, timeout=timeout) as response, \
            open(dst, 'wb') as f:
        total = response.headers.get('Content-Length')
        with tqdm(total=int(total) if total and total.isdigit() else None,
                  unit='B', unit_scale=True, unit_divisor=1024,
                  disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
            while True:
                block = response.read(_BLOCK)
                if not block:
                    break
                f.write(block)
                bar.update(len(block))


def _download(url: str, path: str, timeout: float) -> None:
    """Download ``url`` to ``path`` via a temporary file that is read back
    (a readable weights file) before it is renamed to ``path``."""
    from urllib.error import URLError

    from ..utils.atomic import atomic_file
    from .files import read_state_dict
    with atomic_file(path, suffix='.partial') as tmp:
        try:
            _copy_url(url, tmp, timeout)
        except (TimeoutError, URLError) as e:
            if not isinstance(getattr(e, 'reason', e), TimeoutError):
                raise
            raise TimeoutError(
                f'no answer for {timeout:g} s; set {TIMEOUT_ENV} to wait '
                'longer') from e
        size = osp.getsize(tmp)
        read_state_dict(tmp)  # truncated or not weights: WeightsError
    print_log(f'downloaded {url} ({size / 2**20:.1f} MiB) to {path}',
              logger='current')


def _fetch_url(url: str) -> str:
    path = url_cache_path(url)
    if osp.isfile(path):
        _check_cached(url, path)
        print_log(f'{url} is cached at {path}', logger='current')
        return path
    timeout = download_timeout()
    print_log(f'downloading {url} to {path}', logger='current')
    try:
        _download(url, path, timeout)
    # urllib's URLError/HTTPError and socket errors are OSErrors, a bad URL
    # and an unreadable file (WeightsError) ValueErrors.
    except (OSError, ValueError, HTTPException) as e:
        raise _url_error(url, path, e) from e
    return path


def _check_cached(url: str, path: str) -> None:
    """Refuse a cached file of ``url`` that is not readable weights.

    Raises:
        WeightsDownloadError: Naming it as the cached download of ``url``
            and the command that deletes it (it is the user's cache: we do
            not delete it ourselves).
    """
    from .common import WeightsError
    from .files import read_state_dict
    try:
        read_state_dict(path)
    except (WeightsError, OSError) as e:
        raise WeightsDownloadError(
            f'the cached download of {url} at {path} is damaged '
            f'({_reason(e)}); delete it with `rm {path}` and run again to '
            'download it again') from e


def _url_error(url: str, path: str, error: BaseException
               ) -> WeightsDownloadError:
    return WeightsDownloadError(
        f'cannot download {url} ({_reason(error)}); nothing was written to '
        f'the cache: put the file at {path}, e.g. with `curl -fL --create-'
        f'dirs -o {path} {url}`, or give a local copy\'s path instead of '
        'the URL')


def _fetch_hub(repo: str) -> str:
    from ..extras import require
    require('huggingface_hub', f'init_cfg checkpoint {repo!r}')
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError
    try:
        path = hf_hub_download(repo, HUB_FILENAME)
    # huggingface_hub 2.4: offline without the file in the cache, no such
    # repo, HTTP and connection errors are OSErrors, no such file an
    # EntryNotFoundError, a malformed id a ValueError.
    except (OSError, ValueError, EntryNotFoundError) as e:
        offline = ' (HF_HUB_OFFLINE is set)' if constants.HF_HUB_OFFLINE \
            else ''
        raise WeightsDownloadError(
            f'cannot get {HUB_FILENAME} of Hugging Face repo {repo}'
            f'{offline} ({_reason(e)}); put it in the Hugging Face cache '
            f'{constants.HF_HUB_CACHE} with `hf download {repo} '
            f'{HUB_FILENAME}` on a machine that can reach the hub, or give a '
            'local copy\'s path instead of the hub id') from e
    print_log(f'Hugging Face {repo} -> {path}',
              logger='current')
    return path


def fetch_weights(checkpoint: str) -> str:
    """The local file for ``checkpoint``: downloaded into the cache on
    first use if it is a URL or hub id, else ``checkpoint`` itself.

    Raises:
        WeightsDownloadError: Offline, HTTP error, partial or unreadable
            download; one line naming the URL, the cache path and the
            command to fetch it by hand. Nothing is left in the cache.
    """
    repo = hub_repo(checkpoint)
    if repo is not None:
        return _fetch_hub(repo)
    if checkpoint.startswith(URL_SCHEMES):
        return _fetch_url(checkpoint)
    return checkpoint
