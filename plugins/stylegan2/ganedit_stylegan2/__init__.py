"""ganedit first-party plugin: stylegan2.

Modules: :mod:`~ganedit_stylegan2.networks` (generator / discriminator networks in rosinality's
parameter layout), :mod:`~ganedit_stylegan2.checkpoints` (loaded form, sniffing, dispatch),
:mod:`~ganedit_stylegan2.rosinality`, :mod:`~ganedit_stylegan2.nvidia` and
:mod:`~ganedit_stylegan2.native` (the three checkpoint formats), :mod:`~ganedit_stylegan2.components`
(the registered ``stylegan2`` generator and discriminator) and :mod:`~ganedit_stylegan2.plugin` (hooks).
"""
