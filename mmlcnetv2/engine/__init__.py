from .bf16_optim_wrapper import BF16AutocastOptimWrapper
from .random_state_hook import RandomStateHook
from .training_curve_hook import TrainingCurveHook
from .warmup import LinearWarmupLR

__all__ = ['BF16AutocastOptimWrapper', 'LinearWarmupLR', 'RandomStateHook',
           'TrainingCurveHook']
