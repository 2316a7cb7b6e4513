# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Many images at the device's throughput, results in input order.

One request at a time leaves a multi-core CPU idle between images (decode,
preprocessing and post-processing run while the network waits, and one
request uses one stream). :func:`stream` keeps ``jobs`` OpenVINO infer
requests of a THROUGHPUT-hinted model busy: a small thread pool decodes
and preprocesses the next images (cv2 decode/resize release the GIL), a
feeder thread starts each request as soon as its input is ready and a
request is free, and the caller gets the items back in the order it gave
them, one by one, so memory stays bounded for an endless iterator.

No Python code runs on OpenVINO's threads (no ``AsyncInferQueue``
callback): the caller's thread waits for each request with the GIL
released and copies its outputs. A Python callback needs the GIL on an
OpenVINO thread, and destroying the requests or the compiled model (which
waits for those threads) while Python holds the GIL hung ``infer.py`` at
exit about once in 27 folder runs. Here every request is waited for before
the last references go, and none of OpenVINO's threads ever waits for the
GIL, so that order cannot deadlock.
"""
import collections
import itertools
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

import numpy as np

#: Preprocessing threads when the caller does not say: decode + resize of
#: a photo take a fraction of the network's time, two keep ahead of it.
DEFAULT_WORKERS = 2

#: Requests in flight per request the device can run at once: one running
#: and one queued behind it, so that a stream never idles while Python
#: copies the last outputs and starts the next request. With only
#: ``OPTIMAL_NUMBER_OF_INFER_REQUESTS`` (one per stream), ``map`` on photo
#: files reached 0.77x of the network's async throughput on an idle 2-core
#: Xeon, with two per stream 0.84x (on decoded photos 0.91x -> 0.92x; f32,
#: docs/deploy.md).
REQUESTS_PER_STREAM = 2


def default_jobs(compiled) -> int:
    """Requests in flight by default for ``compiled``: the device's
    ``OPTIMAL_NUMBER_OF_INFER_REQUESTS`` times :data:`REQUESTS_PER_STREAM`."""
    return REQUESTS_PER_STREAM * int(
        compiled.get_property('OPTIMAL_NUMBER_OF_INFER_REQUESTS'))


@dataclass
class Streamed:
    """One item of :func:`stream`.

    Attributes:
        index (int): Position in the input.
        item: The input item as given.
        prepared: What ``prepare(item)`` returned (None if it raised).
        outputs (list): The IR's outputs (copies), None on error.
        result: Filled by the caller's post-processing
            (:meth:`OpenVINOInferencer.stream`: the results dict).
        error (Exception, optional): What ``prepare`` or the inference
            raised for this item; the others are not affected.
    """
    index: int
    item: Any
    prepared: Any = None
    outputs: Optional[List[np.ndarray]] = None
    result: Any = None
    error: Optional[BaseException] = None
    # Set by the feeder once the item's request is started (or it failed).
    _started: threading.Event = field(default_factory=threading.Event,
                                      repr=False)
    _request: Any = field(default=None, repr=False)


_END = object()


def stream(compiled, items: Iterable, prepare: Callable[[Any], Any],
           inputs: Callable[[Any], Dict], jobs: Optional[int] = None,
           workers: int = DEFAULT_WORKERS) -> Iterator[Streamed]:
    """Run ``compiled`` on every item, overlapped; yield in input order.

    Args:
        compiled: An ``ov.CompiledModel`` (compile it with
            ``PERFORMANCE_HINT: THROUGHPUT`` for the device's throughput).
        items: Any iterable; read lazily, a few items ahead.
        prepare: ``item -> prepared`` (decode + preprocess), run in the
            thread pool. An exception becomes the item's ``error``.
        inputs: ``prepared -> {input index: array}`` for the IR.
        jobs: Infer requests in flight. Defaults to :func:`default_jobs`
            (twice the model's ``OPTIMAL_NUMBER_OF_INFER_REQUESTS``).
        workers: Preprocessing threads.

    Yields:
        Streamed: In the order of ``items``, as soon as each is done (an
        item with an error does not hold back the ones after it longer than
        it takes to reach it).

    Example:
        >>> done = stream(compiled, paths, prep, inputs)  # doctest: +SKIP
        >>> for item in done:  # doctest: +SKIP
        ...     print(item.index, item.error or item.outputs[0].shape)
    """
    if jobs is None:
        jobs = default_jobs(compiled)
    jobs, workers = max(int(jobs), 1), max(int(workers), 1)
    requests = [compiled.create_infer_request() for _ in range(jobs)]
    free: 'queue.Queue' = queue.Queue()
    for request in requests:
        free.put(request)
    n_outputs = len(compiled.outputs)
    # Items handed to the caller's loop, in order; its bound (requests in
    # flight + the ones being prepared) bounds the memory held.
    order: 'queue.Queue' = queue.Queue(maxsize=jobs + 2 * workers)
    stop = threading.Event()
    pool = ThreadPoolExecutor(workers, thread_name_prefix='preprocess')

    def put(target: 'queue.Queue', entry) -> bool:
        while not stop.is_set():
            try:
                target.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def free_request():
        # The caller hands requests back in input order, and requests are
        # started in that order: one is free once the caller is here.
        while not stop.is_set():
            try:
                return free.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def start(slot: Streamed, future) -> None:
        try:
            slot.prepared = future.result()
            feed_inputs = inputs(slot.prepared)
            request = free_request()
            if request is not None:
                request.start_async(feed_inputs)
                slot._request = request
        except BaseException as e:  # noqa: BLE001  (reported with the item;
            # the feeder must go on, or the caller would wait for it)
            slot.error = e
        slot._started.set()

    def finish(slot: Streamed) -> None:
        # The caller's thread: wait (OpenVINO releases the GIL), copy out,
        # hand the request back for the next item.
        request, slot._request = slot._request, None
        if request is None:
            return
        try:
            request.wait()
            slot.outputs = [np.copy(request.get_output_tensor(i).data)
                            for i in range(n_outputs)]
        except Exception as e:  # noqa: BLE001  (reported with the item)
            slot.error = e
        free.put(request)

    def feed() -> None:
        preparing = collections.deque()
        failure = None
        iterator = iter(items)
        for index in itertools.count():
            try:
                item = next(iterator)
            except StopIteration:
                break
            except BaseException as e:  # noqa: BLE001  (the caller's)
                failure = e  # raised after the items before it
                break
            slot = Streamed(index, item)
            preparing.append((slot, pool.submit(prepare, item)))
            if not put(order, slot):
                break  # the caller stopped
            # Start requests in input order, keeping ``workers`` items
            # being prepared ahead.
            while len(preparing) > workers or (preparing
                                               and preparing[0][1].done()):
                start(*preparing.popleft())
        while preparing and not stop.is_set():
            start(*preparing.popleft())
        put(order, (_END, failure))

    feeder = threading.Thread(target=feed, name='feed', daemon=True)
    feeder.start()
    try:
        while True:
            entry = order.get()
            if isinstance(entry, tuple) and entry[0] is _END:
                if entry[1] is not None:
                    raise entry[1]
                return
            entry._started.wait()
            finish(entry)
            yield entry
    finally:
        # Also when the caller stops early: end the feeder, wait for every
        # request still running (the GIL released), and only then let the
        # requests go; nothing of OpenVINO's then needs Python.
        stop.set()
        feeder.join()
        for request in requests:
            try:
                request.wait()
            except Exception:  # noqa: BLE001  (an item no one reads)
                pass
        pool.shutdown(wait=True, cancel_futures=True)
        requests.clear()
