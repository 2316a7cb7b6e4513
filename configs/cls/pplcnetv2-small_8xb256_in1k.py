_base_ = './pplcnetv2-base_8xb256_in1k.py'

model = dict(backbone=dict(arch='small'), head=dict(in_channels=768))
