"""BasicSR testing (metrics, saved outputs) with the plugin registered, rooted at the current directory.

    python -m expinterp_plugin.test -opt OPTIONS.yml

Writes results/NAME (the log with the metrics, visualization/) under the current directory;
basicsr's own ``basicsr/test.py`` uses the folder holding the basicsr package (site-packages).
"""
import os

from expinterp_plugin import compat


def main():
    """Run ``basicsr.test.test_pipeline(os.getcwd())``; the options come from ``sys.argv``."""
    compat.require_basicsr()
    from basicsr.test import test_pipeline
    test_pipeline(os.getcwd())


if __name__ == '__main__':
    main()
