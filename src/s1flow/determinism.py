"""Deterministic kernels: with the same config, machine and library versions, the same bytes out.

PyTorch picks among kernels whose floating-point reductions run in different orders (cuBLAS
split-K, cuDNN autotuning, atomics in scatter/index_add backward), and a CPU reduction's order
depends on the number of threads. :func:`use_deterministic` fixes both: deterministic algorithms
(an op without one warns rather than fails), cuDNN without autotuning, a fixed cuBLAS workspace,
and, when given, the number of intra-op threads. It does not make two machines agree: their
kernels and vector widths still differ (README, "What the nano run shows so far").
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def use_deterministic(enabled: bool = True, *, threads: int | None = None) -> None:
    """Make this process's PyTorch kernels deterministic (`enabled`) and fix its thread count (`threads`).

    Call it before the first CUDA operation: cuBLAS reads ``CUBLAS_WORKSPACE_CONFIG`` when its
    handle is created (a value the caller set is kept).
    """
    import torch

    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))
    if not enabled:
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    log.debug("deterministic kernels on; %d intra-op threads", torch.get_num_threads())
