"""expinterp: exposure interpolation as a BasicSR plugin.

basicsr itself is deliberately not in install_requires: declaring it makes pip resolve
basicsr 1.4.2's own requirements (opencv-python next to opencv-python-headless, tb-nightly,
and packages no run imports). The README installs it with --no-deps, and the runtime
requirements basicsr really imports are listed here instead (its declared addict, future,
requests, scikit-image and yapf are imported by no module a run loads). It installs basicsr
*after* expinterp: pip checks the installed set against every package's declared requirements
after an install that resolves dependencies, and would print basicsr's seven unmet ones as
``ERROR: pip's dependency resolver ...`` lines; ``--no-deps`` skips that check.

Installing also puts ``expinterp_plugin.pth`` into site-packages; its one line imports
``expinterp_plugin._autoload`` at interpreter start, which only arms an import hook (no torch,
no basicsr), and does nothing when the package cannot be found (an editable install whose
checkout was removed would otherwise print a traceback at every interpreter start). That is how basicsr's own ``basicsr/train.py`` and ``test.py``, which never import
the plugin, still get the compat fixes before their first basicsr import and see the plugin's
registered classes. A file at a wheel's root is installed into site-packages and recorded
(``pip uninstall`` removes it):

- ``pip install .`` builds a regular wheel from ``build_lib``: ``BuildPyWithPth`` writes the
  file there.
- ``pip install -e .`` builds a PEP 660 editable wheel, into which setuptools puts no
  ``build_lib`` file, only its own path ``.pth`` or finder chosen by an "editable strategy":
  ``EditableWheelWithPth`` wraps that strategy so that it writes our file too.
"""
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH_NAME = 'expinterp_plugin.pth'
PTH_CONTENT = ("import importlib.util; importlib.util.find_spec('expinterp_plugin') and "
               "__import__('expinterp_plugin._autoload')\n")


class BuildPyWithPth(build_py):
    """build_py that also writes ``PTH_NAME`` at the root of ``build_lib`` (the wheel's root)."""

    def run(self):
        super().run()
        with open(os.path.join(self.build_lib, PTH_NAME), 'w', encoding='utf-8') as f:
            f.write(PTH_CONTENT)

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH_NAME)]


class _StrategyWithPth:
    """An editable-wheel strategy (context manager called with the open wheel) that adds our .pth."""

    def __init__(self, strategy):
        self._strategy = strategy

    def __enter__(self):
        self._strategy.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self._strategy.__exit__(*exc_info)

    def __call__(self, wheel, files, mapping):
        self._strategy(wheel, files, mapping)
        wheel.writestr(PTH_NAME, PTH_CONTENT.encode('utf-8'))


class EditableWheelWithPth(editable_wheel):
    """editable_wheel whose wheel also holds ``PTH_NAME`` at its root.

    ``_select_strategy`` is setuptools-internal (verified on setuptools 84.2.1): should a later
    setuptools stop calling it, tests/test_entrypoints.py finds the installed .pth missing.
    """

    def _select_strategy(self, name, tag, build_lib):
        return _StrategyWithPth(super()._select_strategy(name, tag, build_lib))


setup(
    name='expinterp',
    version='0.1.0',
    description='Exposure interpolation (model-driven IMF + learned residual) as a BasicSR plugin',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['expinterp_plugin', 'expinterp_plugin.*']),
    # The CRF prior (PCA of the DoRF training curves, benchmarks/make_crf_prior.py), read at
    # run time by expinterp_plugin.exposure.crf_prior.
    package_data={'expinterp_plugin.exposure': ['data/crf_prior.npz']},
    python_requires='>=3.9',
    install_requires=[
        'numpy', 'scipy', 'opencv-python-headless', 'pillow', 'tqdm', 'pyyaml', 'lmdb',
        'tensorboard',
        # 2.6 made torch.load(weights_only=True) the default; every load here also passes it.
        'torch>=2.6', 'torchvision'
    ],
    # exr: `expinterp simulate` reads .exr radiance maps (without it they are skipped)
    extras_require={'test': ['pytest', 'hypothesis'], 'exr': ['OpenEXR']},
    entry_points={'console_scripts': ['expinterp=expinterp_plugin.cli:main']},
    cmdclass={'build_py': BuildPyWithPth, 'editable_wheel': EditableWheelWithPth},
)
