"""models/ops/grad_recording.py: when the training memory ops run."""
import torch

from projects.OccDepth.occdepth.models.ops.grad_recording import \
    records_fp32_graph


def test_records_fp32_graph_only_with_gradients_outside_autocast():
    x = torch.ones(2)
    assert records_fp32_graph(x)
    with torch.no_grad():
        assert not records_fp32_graph(x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert not records_fp32_graph(x)


def test_tracing_runs_the_plain_chain():
    seen = []

    def f(x):
        seen.append(records_fp32_graph(x))
        return x * 2

    torch.jit.trace(f, torch.ones(2), check_trace=False)
    assert seen == [False]
    assert records_fp32_graph(torch.ones(2))
