# Synthetic benchmark, row "mono": full.py lifting the left view only (paper
# Table 3's single-view baseline direction, with OAD and distillation kept).
_base_ = ['./full.py']

num_views = 1
train_dataloader = dict(dataset=dict(num_views=num_views))
val_dataloader = dict(dataset=dict(num_views=num_views))
test_dataloader = val_dataloader
model = dict(num_views=num_views)
