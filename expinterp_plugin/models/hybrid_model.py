"""The hybrid exposure-interpolation model: output = y0 + f(lq) (Zheng, Li, Wu, Sec. III).

y0 is the model-driven medium exposure made by the dataset (its own ``y0`` key); the network
``net_g`` predicts only the residual y - y0 and y0 is added once, here, in training, validation
and testing alike. In 'direct' mode (the paper's deep baseline) the network maps bright ‖ dark
to y itself. What lq holds per mode and whether y0 is added: ``expinterp_plugin.modes``.
"""
from collections import OrderedDict
from os import path as osp

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from basicsr.losses import build_loss
from basicsr.metrics import calculate_metric
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger, imwrite, tensor2img
from basicsr.utils.registry import MODEL_REGISTRY

from expinterp_plugin.modes import mode_from_options, residual_from_options

#: Suffix of the validation metrics computed on y0 (e.g. ``psnr_y0`` next to ``psnr``).
Y0_SUFFIX = '_y0'


def zero_last_conv(net):
    """Zero the weight and bias of the last ``nn.Conv2d`` registered in ``net``."""
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f'zero_init_residual: {type(net).__name__} has no Conv2d to zero')
    nn.init.zeros_(convs[-1].weight)
    if convs[-1].bias is not None:
        nn.init.zeros_(convs[-1].bias)


def sum_loss_terms(value):
    """A loss module's result as one tensor; BasicSR's PerceptualLoss returns (percep, style)."""
    if isinstance(value, (tuple, list)):
        return sum(v for v in value if v is not None)
    return value


@MODEL_REGISTRY.register()
class HybridExposureModel(SRModel):
    """BasicSR model for exposure interpolation with a model-driven base y0.

    Inputs (``feed_data``), float32 RGB in [0, 1], (N, C, H, W):
        lq: network input, C = 3 (y0), 9 (y0 ‖ bright ‖ dark) or 6 (bright ‖ dark, direct).
        y0: (N, 3, H, W), the model-driven base; required when the model is residual.
        gt: the real medium exposure (N, 3, H, W), optional at inference.

    Output ``self.output`` (N, 3, H, W): y0 + net_g(lq) when residual, else net_g(lq). Any
    BasicSR arch that maps C channels to 3 at scale 1 fits (DenoiseNet, EDSR with upscale 1,
    RRDBNet with scale 1, ...).

    Options beyond SRModel's:
        mode (str): the network-input mode, 'hybrid' (default), 'conditioned' or 'direct'
            (``modes.mode_from_options``); every dataset must be in it.
        residual (bool): add y0 (default: the mode's ``adds_y0``; ``modes.residual_from_options``).
        zero_init_residual (bool, default False): when training from scratch, zero net_g's last
            convolution so that training starts at output = y0 (the residual starts at 0 instead
            of random values worth several dB). Checked on the first batch: an arch whose output
            is not that convolution's (EDSR adds a mean after it) is refused.
        train.pixel_opt: L_r (the paper: PsiLoss on output vs gt); train.color_opt: L_c
            (AngularColorLoss, weight 0.01); train.perceptual_opt: L_f (MINCPerceptualLoss,
            weight 0.01). Each is optional and built with BasicSR's ``build_loss``; their sum is
            minimised (BasicSR requires pixel_opt or perceptual_opt).
        val.metrics: BasicSR metrics, reported for the output and, suffixed ``_y0``, for y0.
        val.save_comparison (bool, default True): with save_img, also write y0 | output | gt.
    """

    def __init__(self, opt):
        self.mode = mode_from_options(opt)
        self.residual = residual_from_options(opt)
        self._expect_zero_residual = False
        super().__init__(opt)
        formula = 'y0 + net_g(lq)' if self.residual else 'net_g(lq) (direct, no y0 added)'
        get_root_logger().info(f'HybridExposureModel ({self.mode} mode): output = {formula}')

    def init_training_settings(self):
        if self.opt.get('zero_init_residual') and self.residual and \
                self.opt['path'].get('pretrain_network_g') is None:
            zero_last_conv(self.get_bare_model(self.net_g))
            self._expect_zero_residual = True
        super().init_training_settings()
        color_opt = self.opt['train'].get('color_opt')
        self.cri_color = build_loss(color_opt).to(self.device) if color_opt else None

    def feed_data(self, data):
        super().feed_data(data)
        if 'y0' in data:
            self.y0 = data['y0'].to(self.device)
        elif self.residual:
            raise ValueError('HybridExposureModel adds y0 but the batch has no y0 key '
                             '(ExposureTripletDataset provides it)')
        else:
            self.y0 = None

    def predict(self, net):
        """The model's output for the fed ``lq`` with network ``net`` (net_g or its EMA)."""
        out = net(self.lq)
        if not self.residual:
            return out
        if self._expect_zero_residual:
            self._expect_zero_residual = False
            if torch.count_nonzero(out):
                raise ValueError(f'zero_init_residual: {self.opt["network_g"]["type"]} does not '
                                 'end with a convolution (its residual is not 0 with the last '
                                 'one zeroed); leave the option off for this arch')
        if out.shape != self.y0.shape:
            raise ValueError(
                f'network_g ({self.opt["network_g"]["type"]}) maps lq {tuple(self.lq.shape)} to '
                f'{tuple(out.shape)}, but the residual must have the shape of y0 '
                f'{tuple(self.y0.shape)} (3 channels, scale 1)')
        return self.y0 + out

    def compute_losses(self, output, gt):
        """{'l_pix', 'l_color', 'l_percep' (those configured), 'l_total': their sum}."""
        losses = OrderedDict()
        for name, criterion in (('l_pix', self.cri_pix), ('l_color', self.cri_color),
                                ('l_percep', self.cri_perceptual)):
            if criterion is not None:
                losses[name] = sum_loss_terms(criterion(output, gt))
        losses['l_total'] = sum(losses.values())
        return losses

    def optimize_parameters(self, current_iter):
        self.optimizer_g.zero_grad()
        self.output = self.predict(self.net_g)
        losses = self.compute_losses(self.output, self.gt)
        losses['l_total'].backward()
        self.optimizer_g.step()
        self.log_dict = self.reduce_loss_dict(losses)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    def test(self):
        net = self.net_g_ema if hasattr(self, 'net_g_ema') else self.net_g
        was_training = net.training
        net.eval()
        with torch.no_grad():
            self.output = self.predict(net)
        net.train(was_training)

    def get_current_visuals(self):
        visuals = super().get_current_visuals()
        if self.y0 is not None:
            visuals['y0'] = self.y0.detach().cpu()
        return visuals

    def _initialize_best_metric_results(self, dataset_name):
        super()._initialize_best_metric_results(dataset_name)
        record = self.best_metric_results[dataset_name]
        for metric, content in self.opt['val']['metrics'].items():
            better = content.get('better', 'higher')
            record.setdefault(metric + Y0_SUFFIX, dict(
                better=better, val=float('-inf') if better == 'higher' else float('inf'), iter=-1))

    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
        """SRModel's validation, plus every metric on y0 (``<metric>_y0``) and comparisons."""
        dataset_name = dataloader.dataset.opt['name']
        metrics_opt = self.opt['val'].get('metrics')
        if metrics_opt:
            self._initialize_best_metric_results(dataset_name)
            sums, counts = OrderedDict(), OrderedDict()
        pbar = tqdm(total=len(dataloader), unit='image') if self.opt['val'].get('pbar') else None
        for val_data in dataloader:
            img_name = osp.splitext(osp.basename(val_data['lq_path'][0]))[0]
            self.feed_data(val_data)
            self.test()
            images = self._release_batch_as_images()
            if save_img:
                self._save_images(images, img_name, dataset_name, current_iter)
            if metrics_opt and 'gt' in images:
                for source, suffix in (('result', ''), ('y0', Y0_SUFFIX)):
                    if source not in images:
                        continue
                    for name, metric_opt in metrics_opt.items():
                        value = calculate_metric({'img': images[source], 'img2': images['gt']},
                                                 metric_opt)
                        sums[name + suffix] = sums.get(name + suffix, 0.0) + value
                        counts[name + suffix] = counts.get(name + suffix, 0) + 1
            if pbar is not None:
                pbar.update(1)
                pbar.set_description(f'Test {img_name}')
        if pbar is not None:
            pbar.close()
        if metrics_opt and sums:
            self.metric_results = OrderedDict((k, sums[k] / counts[k]) for k in sums)
            for metric, value in self.metric_results.items():
                self._update_best_metric_result(dataset_name, metric, value, current_iter)
            self._log_validation_metric_values(current_iter, dataset_name, tb_logger)

    def _release_batch_as_images(self):
        """{'result', 'y0'?, 'gt'?}: uint8 BGR (H, W, 3) images for metrics and imwrite; the
        batch's tensors (lq, output, y0, gt) are dropped, as SRModel's validation does."""
        images = OrderedDict(result=tensor2img([self.output.detach().cpu()]))
        if self.y0 is not None:
            images['y0'] = tensor2img([self.y0.detach().cpu()])
        if hasattr(self, 'gt'):
            images['gt'] = tensor2img([self.gt.detach().cpu()])
            del self.gt
        del self.lq, self.output, self.y0
        return images

    def _save_images(self, images, img_name, dataset_name, current_iter):
        """The output where SRModel puts it, and ``*_y0_out_gt.png`` = y0 | output | gt."""
        if self.opt['is_train']:
            path = osp.join(self.opt['path']['visualization'], img_name,
                            f'{img_name}_{current_iter}.png')
        else:
            suffix = self.opt['val'].get('suffix') or self.opt['name']
            path = osp.join(self.opt['path']['visualization'], dataset_name,
                            f'{img_name}_{suffix}.png')
        imwrite(images['result'], path)
        if self.opt['val'].get('save_comparison', True):
            panels = [images[k] for k in ('y0', 'result', 'gt') if k in images]
            imwrite(np.concatenate(panels, axis=1), f'{osp.splitext(path)[0]}_y0_out_gt.png')
