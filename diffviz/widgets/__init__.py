"""diffviz widgets: thin views over the core, for JupyterLab, Voila and course notebooks.

    from diffviz.widgets import ReverseProcess
    ReverseProcess(diffviz.load("shapes"))
"""
from .clip import ClipSimilarity
from .compare import GuidanceSweep, SchedulerCompare
from .explainer import Explainer
from .fid import FidExplorer
from .forward import ForwardProcess
from .i18n import set_language, tr
from .lab import PointDiffusion, TrainingLab, train_lab
from .latent import LatentParts
from .noise import NoiseInspector
from .player import FramePlayer
from .reverse import ReverseProcess
from .wordmaps import PromptCompare, WordMaps

__all__ = ["FramePlayer", "ForwardProcess", "ReverseProcess", "NoiseInspector", "GuidanceSweep", "SchedulerCompare",
           "ClipSimilarity", "FidExplorer", "LatentParts", "WordMaps", "PromptCompare", "Explainer", "TrainingLab", "PointDiffusion", "train_lab",
           "set_language", "tr"]
