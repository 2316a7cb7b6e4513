# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Running an export: :class:`~.inferencer.OpenVINOInferencer` (image in,
results in original-image coordinates), many images at the device's
throughput (:mod:`.stream`), and scoring with the config's evaluator
(:mod:`.evaluate`)."""
