# Paper Table 4(b), row "UD": uniform depth bins for the OAD voxel lookup.
# table4b_depth_bins_lid.py with discretization='UD'.
_base_ = ['./table4b_depth_bins_lid.py']

model = dict(depth_head=dict(discretization='UD'))
