# Synthetic benchmark, row "SID" (paper Table 4(b)): full.py with
# spacing-increasing (log) depth bins for OAD (full.py is the LID row).
_base_ = ['./full.py']

model = dict(depth_head=dict(discretization='SID'))
