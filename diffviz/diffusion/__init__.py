"""Diffusion maths: noise schedules, the forward process, scheduler factory, recorded sampling."""
from .forward import ForwardSample, forward_process, forward_strip
from .schedule import SCHEDULE_NAMES, Schedule
from .schedulers import SCHEDULER_NAMES, make_scheduler
from .trajectory import Trajectory

__all__ = [
    "ForwardSample", "forward_process", "forward_strip", "Schedule", "SCHEDULE_NAMES",
    "SCHEDULER_NAMES", "make_scheduler", "Trajectory",
]
