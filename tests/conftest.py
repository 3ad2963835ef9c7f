"""Fixtures shared by the test modules.

``shared_data``: the data sets some tests need (MEFB, the real brackets, the DoRF table, the HDR
maps) are found as the benchmarks find them (benchmarks/data_root.py: $EXPINTERP_DATA, else
../shared/data beside the repository); a test whose data are missing skips, and its reason
names the missing path and the variable (pytest.ini's ``-rs`` prints it in the summary).
"""
import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    'expinterp_benchmarks_data_root', Path(__file__).resolve().parents[1] / 'benchmarks' /
    'data_root.py')
data_root = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(data_root)


def find_shared_data(*parts):
    """The path ``parts`` under the data root; skips the calling test when it is missing."""
    try:
        return data_root.data_path(data_root.data_root(), *parts,
                                   how=f'set {data_root.ENV} to the shared data folder')
    except FileNotFoundError as err:
        pytest.skip(str(err))


@pytest.fixture
def shared_data():
    """``shared_data(*parts)``: the path under the data root, or a skip naming it."""
    return find_shared_data
