"""BasicSR training with the plugin registered, rooted at the current directory.

    python -m expinterp_plugin.train -opt OPTIONS.yml [--auto_resume] [--debug] [--force_yml KEY=VALUE ...]
    torchrun --nproc_per_node=N -m expinterp_plugin.train -opt OPTIONS.yml --launcher pytorch

Arguments are basicsr's (``basicsr.utils.options.parse_options``). Writes experiments/NAME
(models, training_states, log, a copy of the options) and tb_logger/NAME under the current
directory, which is also where ``--auto_resume`` looks. basicsr's own ``basicsr/train.py``
roots them at the folder holding the basicsr package (site-packages) instead (docs/design.md,
compat item 3).

The run ends with one summary line on stdout (``summary_line``): the final validation's PSNR of
the output against y0's, and where the model, the log and the TensorBoard events are.
"""
import logging
import os

from expinterp_plugin import compat


def summary_line(model):
    """One line on a finished run of ``model`` (a BasicSR model after ``train_pipeline``): the
    last validation's ``psnr`` next to ``psnr_y0`` (HybridExposureModel's y0 metric) when it
    has them, the latest checkpoint, the log file and the TensorBoard folder."""
    opt, name = model.opt, model.opt['name']
    metrics = getattr(model, 'metric_results', None) or {}
    if 'psnr' in metrics and 'psnr_y0' in metrics:
        score = (f"validation PSNR {metrics['psnr']:.2f} dB (output) vs {metrics['psnr_y0']:.2f} "
                 f"dB (y0 alone), {metrics['psnr'] - metrics['psnr_y0']:+.2f} dB")
    elif 'psnr' in metrics:
        score = f"validation PSNR {metrics['psnr']:.2f} dB"
    else:
        score = 'no validation PSNR (no val set or psnr metric in the options)'
    checkpoint = os.path.join(opt['path']['models'], 'net_g_latest.pth')
    logs = [h.baseFilename for h in logging.getLogger('basicsr').handlers
            if isinstance(h, logging.FileHandler)]
    where = [f'model {os.path.relpath(checkpoint)}']
    if logs:
        where.append(f'log {os.path.relpath(logs[-1])}')
    if opt.get('logger', {}).get('use_tb_logger') and 'debug' not in name:  # basicsr's rule
        where.append('TensorBoard ' + os.path.relpath(os.path.join(opt['root_path'], 'tb_logger',
                                                                   name)))
    return f"expinterp: {name} finished: {score}; {', '.join(where)}"


def main():
    """Run ``basicsr.train.train_pipeline(os.getcwd())`` (options from ``sys.argv``), then
    print ``summary_line`` of the trained model (rank 0 only)."""
    compat.require_basicsr()
    import torch.distributed
    import basicsr.train
    # train_pipeline does not return its model: keep the one its build_model makes.
    built, build_model = [], basicsr.train.build_model

    def build_and_keep(opt):
        built.append(build_model(opt))
        return built[-1]

    basicsr.train.build_model = build_and_keep
    try:
        basicsr.train.train_pipeline(os.getcwd())
    finally:
        basicsr.train.build_model = build_model
    if built and built[-1].opt['rank'] == 0:
        print(summary_line(built[-1]), flush=True)
    # basicsr leaves the process group open; torch warns at exit about groups never destroyed.
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == '__main__':
    main()
