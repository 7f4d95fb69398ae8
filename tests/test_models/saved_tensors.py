"""Counting the tensors an autograd graph saves for the backward pass."""
import torch


def saved_floats(module, run):
    """Floats saved for backward by ``run()`` (parameters and buffers
    excluded, each storage once), and what ``run()`` returned."""
    own = {
        t.untyped_storage().data_ptr()
        for t in list(module.parameters()) + list(module.buffers())
    }
    sizes = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in own:
            sizes[ptr] = t.untyped_storage().nbytes() // t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = run()
    return sorted(sizes.values()), out
