"""Fill BasicSR's registries whenever basicsr is imported, without importing torch eagerly.

``import expinterp_plugin`` must stay cheap (the numeric core is torch-free) yet BasicSR must
see the plugin's archs/datasets/losses/models before any option file is built. A
meta-path finder wraps the loader of the top-level ``basicsr`` package: before basicsr's own
``__init__`` runs, the compat layer is applied (its import fixes must precede basicsr's first
import), and right after it finishes, the plugin's registering subpackages are imported. If
basicsr is already imported, registration happens at once.
"""
import importlib
import importlib.util
import sys

_PLUGIN_SUBPACKAGES = ('archs', 'data', 'losses', 'models')
_registered = False


def register():
    """Apply the compat layer and import the plugin's registering subpackages (idempotent)."""
    global _registered
    if _registered:
        return
    _registered = True
    from expinterp_plugin import compat
    compat.apply()
    for name in _PLUGIN_SUBPACKAGES:
        importlib.import_module(f'expinterp_plugin.{name}')


# Plain classes rather than importlib.abc subclasses: the import system only calls these methods,
# and importlib.abc pulls in importlib.resources, tempfile and shutil, too much for a hook that a
# .pth arms at every interpreter start.
class _WrappedLoader:

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        # get_source, is_package, get_resource_reader...: whatever else the real loader offers.
        if name == '_loader':
            raise AttributeError(name)
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        from expinterp_plugin import compat
        compat.apply_before_basicsr_import()
        self._loader.exec_module(module)
        register()


class _BasicsrFinder:

    def find_spec(self, fullname, path=None, target=None):
        if fullname != 'basicsr':
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec('basicsr')
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _WrappedLoader(spec.loader)
        return spec


def install():
    """Register now if basicsr is loaded, else arm the finder for its first import."""
    if 'basicsr' in sys.modules:
        register()
        return
    if not any(isinstance(f, _BasicsrFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _BasicsrFinder())
