"""Torch model builders: zsnas architectures, the standard ResNets, NAS-Bench-201 cell networks.

Every network built here follows one contract (the proxies rely on it):

* ``model.units``      nn.ModuleList of the *primary blocks* in order: applying them in
                       sequence to the input gives the last primary feature map. For a zsnas
                       Arch: one per SuperConv block and one per residual unit (a K1KXK1 or
                       IDW sub-layer yields two units). ResNets: the stem (conv-bn-relu-maxpool)
                       then every BasicBlock/Bottleneck. NB201: the stem (conv+BN, no ReLU),
                       then the 17 cells / reduction blocks.
* ``model.tail``       module applied after the units and before global pooling (Identity,
                       or BN+ReLU for NB201).
* ``model.classifier`` the final nn.Linear.
* ``model.forward_pre_gap(x)`` = tail(units(x));  ``model.forward(x)`` = classifier(GAP(...)).
* ``model.residual``   whether residual shortcuts are present (Zen-score builds with False).
"""
from .arch_net import ArchNet, SqueezeExcite, build_model  # noqa: E402
from .common import ContractNet  # noqa: E402
from .counting import count_macs, count_params  # noqa: E402
from .named import NAMED_MODELS, named_model  # noqa: E402
from .nb201 import nb201_network, nb201_op_counts, parse_nb201  # noqa: E402
from .resnet import resnet  # noqa: E402

__all__ = ["ArchNet", "ContractNet", "SqueezeExcite", "build_model", "count_macs", "count_params", "NAMED_MODELS",
           "named_model", "nb201_network", "nb201_op_counts", "parse_nb201", "resnet"]
