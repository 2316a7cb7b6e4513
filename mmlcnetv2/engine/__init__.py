from .bf16_optim_wrapper import BF16AutocastOptimWrapper
from .random_state_hook import RandomStateHook
from .training_curve_hook import TrainingCurveHook

__all__ = ['BF16AutocastOptimWrapper', 'RandomStateHook', 'TrainingCurveHook']
