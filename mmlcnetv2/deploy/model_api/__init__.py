# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""OpenVINO Model API: the ``rt_info['model_info']`` keys of an IR
(:mod:`.rt_info`) and the self-contained IR ``model_api.xml`` that takes
the decoded image (:mod:`.self_contained`)."""
