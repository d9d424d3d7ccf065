"""Hook implementations of the tcp plugin (region-wise style manipulation, You et al. 2021)."""

from __future__ import annotations

import ganedit


@ganedit.hookimpl
def register_components(register) -> None:
    from ganedit_tcp.data import CrossDomainDataset
    from ganedit_tcp.model import TCPDiscriminator, TCPEncoder, TCPGenerator, TCPPatchDiscriminator
    from ganedit_tcp.region import TCPRegionEditor
    from ganedit_tcp.task import TCPStylizeTask
    from ganedit_tcp.train import TCPTrainTask

    register(TCPEncoder, TCPGenerator, TCPDiscriminator, TCPPatchDiscriminator, TCPRegionEditor, CrossDomainDataset,
             TCPTrainTask, TCPStylizeTask)
