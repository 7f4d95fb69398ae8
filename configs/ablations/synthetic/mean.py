# Synthetic benchmark, row "mean" (paper Table 4(a) "Mean"): full.py with the
# two views' voxel features averaged instead of the cosine-weighted
# Stereo-SFA.
_base_ = ['./full.py']

model = dict(view_transformer=dict(fusion='mean'))
