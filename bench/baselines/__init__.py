"""Straightforward re-implementations of the authors' proxy algorithms, step by step.

They are the "before" column of bench/bench_proxies.py: written in our own code, following
the order of operations of the official implementations (idstcv/ZenNAS compute_zen_score,
cvlab-yonsei/AZ-NAS compute_az_nas_score), including their per-pair autograd calls, NCHW
layout, fp32 eigen-decompositions and BN running_var read. Not used by the package.
"""
