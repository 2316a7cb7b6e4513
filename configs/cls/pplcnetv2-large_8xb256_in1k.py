_base_ = './pplcnetv2-base_8xb256_in1k.py'

model = dict(backbone=dict(arch='large'), head=dict(in_channels=1280))
