import sys

from expinterp_plugin.cli import main

sys.exit(main())
