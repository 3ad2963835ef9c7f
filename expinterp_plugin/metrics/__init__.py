"""Imports every `*_metric.py` module here so that its classes register with BasicSR."""
import importlib
from pathlib import Path

for _path in sorted(Path(__file__).parent.glob('*_metric.py')):
    importlib.import_module(f'{__name__}.{_path.stem}')
