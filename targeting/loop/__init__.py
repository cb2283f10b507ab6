"""The closed campaign loop (experiments level: it orchestrates models, readouts and tracking).

:class:`CampaignLoop` plans waves, records their outcomes and learns from them;
:func:`simulate_loop` runs it on the responsive demo world against static policies.
"""

from targeting.loop.campaign_loop import CampaignLoop, LoopReport, Wave
from targeting.loop.simulate import LoopSimulation, simulate_loop

__all__ = ["CampaignLoop", "LoopSimulation", "LoopReport", "Wave", "simulate_loop"]
