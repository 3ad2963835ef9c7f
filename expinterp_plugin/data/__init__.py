"""Imports every `*_dataset.py` module here so that its classes register with BasicSR."""
import importlib
from pathlib import Path

for _path in sorted(Path(__file__).parent.glob('*_dataset.py')):
    importlib.import_module(f'{__name__}.{_path.stem}')
