"""Every command shown in README.md and docs/*.md names files that exist and flags that its
program accepts: `expinterp SUBCOMMAND --flag`, `python benchmarks/X.py --flag`,
`python -m expinterp_plugin.train -opt FILE`."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from expinterp_plugin.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / 'README.md'] + sorted((REPO / 'docs').glob('*.md'))
#: Files a command creates before a later one reads them (the demo data, outputs, the model).
MADE_BY_COMMANDS = ('datasets/', 'experiments/', 'results/', 'rb512', 'fused', 'middle',
                    'handheld', 'strip', 'my_', 'MY_', 'cam.', 'out', 'model')


def shell_commands(text):
    """Command lines of ```bash blocks and of inline `expinterp ...` / `python ...` spans."""
    lines = []
    for block in re.findall(r'```bash\n(.*?)\n```', text, flags=re.S):
        for line in block.replace('\\\n', ' ').splitlines():
            lines += [part.split('#')[0].strip() for part in line.split('&&')]
    for span in re.findall(r'`((?:expinterp|python) [^`]+)`', text):
        lines += [part.strip() for part in span.split('&&')]
    return [line for line in lines if line]


def program_of(words):
    """(program, arguments) of one command line without environment assignments and
    `. .venv/bin/activate`; None for other programs (pip, torchrun's launcher is unwrapped)."""
    words = [w for w in words if not re.match(r'^[A-Z_]+=', w)]
    if words[:1] == ['torchrun']:
        words = ['python'] + [w for w in words[1:] if not w.startswith('--nproc')]
    if words[:1] == ['expinterp'] and len(words) > 1:
        return 'expinterp ' + words[1], words[2:]
    if words[:1] in (['python'], ['python3']) and len(words) > 1:
        if words[1] == '-m' and len(words) > 2:
            return 'module ' + words[2], words[3:]
        return words[1], words[2:]
    return None


def all_commands():
    found = []
    for doc in DOCS:
        for line in shell_commands(doc.read_text(encoding='utf-8')):
            try:
                words = shlex.split(line)
            except ValueError:
                continue
            program = program_of(words)
            if program is not None:
                found.append((doc.name, line, *program))
    return found


COMMANDS = all_commands()


def flags(arguments):
    """The option names among ``arguments`` ('[--x' and '--x]' of optional parts included)."""
    words = [a.strip('[]|') for a in arguments]
    return [w.split('=')[0] for w in words if re.match(r'^--?[a-zA-Z][\w-]*$', w.split('=')[0])]


def test_the_docs_show_commands():
    programs = {program for _, _, program, _ in COMMANDS}
    assert 'expinterp fuse' in programs and 'benchmarks/sweep_fusion.py' in programs


def test_expinterp_subcommands_and_flags_exist():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == 'command').choices
    for doc, line, program, arguments in COMMANDS:
        if not program.startswith('expinterp '):
            continue
        name = program.split()[1]
        if name.isupper():  # a placeholder: `expinterp COMMAND --help`
            continue
        assert name in subparsers, f'{doc}: {line}: no subcommand {name!r}'
        known = subparsers[name]._option_string_actions
        for flag in flags(arguments):
            assert flag in known, f'{doc}: {line}: expinterp {name} has no {flag}'


def test_named_files_exist():
    for doc, line, program, arguments in COMMANDS:
        paths = [program] if program.endswith('.py') else []
        paths += [a for a in arguments if re.match(r'^(options|benchmarks|docs|tests)/', a)]
        for path in (p for p in paths if '<' not in p):  # <site-packages>: a placeholder
            assert (REPO / path).exists() or path.startswith(MADE_BY_COMMANDS), \
                f'{doc}: {line}: {path} does not exist'


def script_help(path):
    done = subprocess.run([sys.executable, str(REPO / path), '--help'], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.slow
def test_benchmark_scripts_accept_the_flags_shown():
    scripts = {}
    for doc, line, program, arguments in COMMANDS:
        if program.startswith('benchmarks/') and (REPO / program).is_file():
            scripts.setdefault(program, []).append((doc, line, flags(arguments)))
    assert len(scripts) >= 5
    for script, uses in scripts.items():
        status, text = script_help(script)
        assert status == 0, f'{script} --help failed: {text[-500:]}'
        for doc, line, used in uses:
            for flag in used:
                assert re.search(rf'(^|[\s\[,]){re.escape(flag)}\b', text, flags=re.M), \
                    f'{doc}: {line}: {script} has no {flag}'
