"""expinterp: exposure interpolation as a BasicSR plugin.

Importing this package arms BasicSR registration (see ``_hook``): the compat layer and the
plugin's archs, datasets, losses and models are registered as soon as ``basicsr`` is
imported (at once if it already is). The numeric core, ``from expinterp_plugin import exposure``,
imports neither torch nor basicsr.
"""
from expinterp_plugin._hook import install as _install, register

__version__ = '0.1.0'
__all__ = ['register', '__version__']

_install()
