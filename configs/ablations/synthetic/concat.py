# Synthetic benchmark, row "concat" (paper Table 4(a) "Concat"): full.py with
# the two views' voxel features concatenated and reduced by a learnt 1x1x1
# convolution.
_base_ = ['./full.py']

model = dict(view_transformer=dict(fusion='concat'))
