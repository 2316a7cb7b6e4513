from .bf16_optim_wrapper import BF16AutocastOptimWrapper
from .channels_last_hook import ChannelsLastHook
from .random_state_hook import RandomStateHook
from .training_curve_hook import TrainingCurveHook
from .warmup import LinearWarmupLR

__all__ = ['BF16AutocastOptimWrapper', 'ChannelsLastHook', 'LinearWarmupLR',
           'RandomStateHook', 'TrainingCurveHook']
