"""Imported at interpreter start by the ``expinterp_plugin.pth`` file that installing expinterp
puts into site-packages (setup.py): it arms the basicsr import hook and nothing else.

This is what lets scripts that never import the plugin, such as basicsr's own
``python .../basicsr/train.py -opt X.yml``, find the compat fixes and the plugin's registered
archs, datasets, losses and models. It runs in every interpreter of that environment,
so it must stay cheap: the hook imports neither torch nor numpy nor basicsr; the work happens
only if and when basicsr is imported.
"""
from expinterp_plugin._hook import install

install()
