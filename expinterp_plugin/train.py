"""BasicSR training with the plugin registered, rooted at the current directory.

    python -m expinterp_plugin.train -opt OPTIONS.yml [--auto_resume] [--debug] [--force_yml KEY=VALUE ...]
    torchrun --nproc_per_node=N -m expinterp_plugin.train -opt OPTIONS.yml --launcher pytorch

Arguments are basicsr's (``basicsr.utils.options.parse_options``). Writes experiments/NAME
(models, training_states, log, a copy of the options) and tb_logger/NAME under the current
directory, which is also where ``--auto_resume`` looks. basicsr's own ``basicsr/train.py``
roots them at the folder holding the basicsr package (site-packages) instead (docs/design.md,
compat item 3).
"""
import os

from expinterp_plugin import compat


def main():
    """Run ``basicsr.train.train_pipeline(os.getcwd())``; the options come from ``sys.argv``."""
    compat.require_basicsr()
    import torch.distributed
    from basicsr.train import train_pipeline
    train_pipeline(os.getcwd())
    # basicsr leaves the process group open; torch warns at exit about groups never destroyed.
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == '__main__':
    main()
