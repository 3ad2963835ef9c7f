"""The ``expinterp`` command.

Each subcommand lives in ``expinterp_plugin/commands/<name>.py`` and defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Command modules import heavy packages (torch,
basicsr) inside ``run`` only, so ``expinterp --help`` and the numeric commands stay fast.

A user error that a command lets through (``_common.user_error_types``: a bad value, an
unreadable or unwritable file) ends as one ``expinterp: error:`` line and exit status 2, never a
traceback; Ctrl-C ends with status 130 (the atomic writes leave no partial file).
"""
import argparse
import importlib
import pkgutil
import sys
from importlib import metadata

from expinterp_plugin import commands as _commands_pkg
from expinterp_plugin.commands._common import describe, fail, user_error_types


def _command_modules():
    for info in sorted(pkgutil.iter_modules(_commands_pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith('_'):
            yield importlib.import_module(f'{_commands_pkg.__name__}.{info.name}')


def build_parser():
    parser = argparse.ArgumentParser(
        prog='expinterp', description='Exposure interpolation between a dark and a bright photo.')
    parser.add_argument('--version', action='version', version=f'expinterp {version()}')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    for module in _command_modules():
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def version():
    """The installed distribution's version ('unknown' when run from a bare checkout)."""
    try:
        return metadata.version('expinterp')
    except metadata.PackageNotFoundError:
        return 'unknown'


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args._run(args)
    except KeyboardInterrupt:
        print('expinterp: interrupted', file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001  only user errors are caught; anything else re-raises
        if isinstance(err, user_error_types()):
            return fail(describe(err))
        raise


if __name__ == '__main__':
    sys.exit(main())
