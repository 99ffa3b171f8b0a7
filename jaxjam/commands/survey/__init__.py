"""``jaxjam survey``: fit a catalogue of galaxies on dask.distributed, resumable, one table.

- :mod:`~jaxjam.commands.survey.catalog` reads and checks the catalogue, row by row;
- :mod:`~jaxjam.commands.survey.task` fits one galaxy on a worker and writes its folder;
- :mod:`~jaxjam.commands.survey.run` schedules the fits, resumes and writes ``survey.csv``.
"""

from jaxjam.commands.survey.catalog import BadRow, CatalogError, Entry, read_catalog
from jaxjam.commands.survey.run import SurveyMismatchError, finished, run_survey

__all__ = ["BadRow", "CatalogError", "Entry", "SurveyMismatchError", "finished", "read_catalog",
           "run_survey"]  # fmt: skip
