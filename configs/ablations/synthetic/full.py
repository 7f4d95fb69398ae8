# Synthetic benchmark, row "full": Stereo-SFA (cosine) + OAD + stereo-depth
# distillation, the benchmark's model unchanged (LID depth bins, the LID row
# of Table 4(b)).
_base_ = ['./_base_/benchmark.py']
