"""The ``expinterp`` command.

Each subcommand lives in ``expinterp_plugin/commands/<name>.py`` and defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Command modules import heavy packages (torch,
basicsr) inside ``run`` only, so ``expinterp --help`` and the numeric commands stay fast.
"""
import argparse
import importlib
import pkgutil
import sys

from expinterp_plugin import commands as _commands_pkg


def _command_modules():
    for info in sorted(pkgutil.iter_modules(_commands_pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith('_'):
            yield importlib.import_module(f'{_commands_pkg.__name__}.{info.name}')


def build_parser():
    parser = argparse.ArgumentParser(
        prog='expinterp', description='Exposure interpolation between a dark and a bright photo.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    for module in _command_modules():
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args._run(args)


if __name__ == '__main__':
    sys.exit(main())
