# Synthetic benchmark, row "UD" (paper Table 4(b)): full.py with uniform
# depth bins for OAD (full.py is the LID row).
_base_ = ['./full.py']

model = dict(depth_head=dict(discretization='UD'))
