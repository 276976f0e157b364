"""The wheel's packages. The chapters and dashboards sit at the top of the source tree (notebooks/,
dashboards/) and the wheel carries them as diffviz/notebooks/ and diffviz/dashboards/, where
importlib.resources finds them once installed (diffviz/content.py). Everything else is in pyproject.toml."""
from setuptools import find_namespace_packages, setup

TOP_LEVEL = {"diffviz.notebooks": "notebooks", "diffviz.dashboards": "dashboards"}

setup(
    packages=find_namespace_packages(include=["diffviz", "diffviz.*"])
    + [*TOP_LEVEL, *(f"diffviz.{p}" for p in find_namespace_packages(include=["notebooks.*"]))],
    package_dir=TOP_LEVEL,
)
