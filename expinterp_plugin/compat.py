"""Make stock basicsr 1.4.2 work on current torch/torchvision.

Placeholder: the full layer (DESIGN.md section 7) lands with the plugin-foundation issue.
"""
import importlib
import sys


def alias_functional_tensor():
    """basicsr/data/degradations.py imports ``torchvision.transforms.functional_tensor``,
    removed in torchvision 0.17 (BasicSR issue #626); its names live in ``functional`` now."""
    name = 'torchvision.transforms.functional_tensor'
    if name not in sys.modules:
        sys.modules[name] = importlib.import_module('torchvision.transforms.functional')


def apply_before_basicsr_import():
    """Fixes that must be in place before basicsr's own ``__init__`` runs."""
    alias_functional_tensor()


def apply():
    """Fixes applied to an imported basicsr (idempotent)."""
    alias_functional_tensor()
