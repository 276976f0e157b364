"""Static export: the lecture as one self-contained offline HTML file."""
from .pack import Section, export_html
from .lecture import lecture_sections

__all__ = ["Section", "export_html", "lecture_sections"]
