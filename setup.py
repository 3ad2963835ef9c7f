"""expinterp: exposure interpolation as a BasicSR plugin.

basicsr itself is deliberately not in install_requires: declaring it makes pip resolve
basicsr 1.4.2's own requirements (opencv-python next to opencv-python-headless, tb-nightly,
and packages no run imports). The README installs it with --no-deps, and the runtime
requirements basicsr really imports are listed here instead.
"""
from setuptools import find_packages, setup

setup(
    name='expinterp',
    version='0.1.0',
    description='Exposure interpolation (model-driven IMF + learned residual) as a BasicSR plugin',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['expinterp_plugin', 'expinterp_plugin.*']),
    python_requires='>=3.9',
    install_requires=[
        'numpy', 'scipy', 'opencv-python-headless', 'pillow', 'tqdm', 'pyyaml', 'lmdb',
        'tensorboard', 'torch', 'torchvision'
    ],
    extras_require={'test': ['pytest', 'hypothesis']},
    entry_points={'console_scripts': ['expinterp=expinterp_plugin.cli:main']},
)
