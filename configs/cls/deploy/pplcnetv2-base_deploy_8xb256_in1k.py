# The re-parameterized (fused) form; loads checkpoints of
# tools/reparameterize.py, and unfused ones (fused while loading).
_base_ = '../pplcnetv2-base_8xb256_in1k.py'

model = dict(backbone=dict(deploy=True))
