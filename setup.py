from setuptools import find_packages, setup

setup(
    name='expinterp',
    version='0.1.0',
    description='Exposure interpolation (model-driven IMF + learned residual) as a BasicSR plugin',
    packages=find_packages(include=['expinterp_plugin', 'expinterp_plugin.*']),
    python_requires='>=3.9',
    install_requires=['numpy', 'scipy', 'opencv-python-headless', 'tqdm', 'pyyaml'],
    entry_points={'console_scripts': ['expinterp=expinterp_plugin.cli:main']},
)
