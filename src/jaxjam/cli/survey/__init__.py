"""``jaxjam survey``: fit a catalogue of galaxies on dask.distributed, resumable, one table.

- :mod:`~jaxjam.cli.survey.catalog` reads and checks the catalogue, row by row;
- :mod:`~jaxjam.cli.survey.task` fits one galaxy on a worker and writes its folder;
- :mod:`~jaxjam.cli.survey.run` schedules the fits, resumes and writes ``survey.csv``.
"""

from jaxjam.cli.survey.catalog import BadRow, CatalogError, Entry, read_catalog
from jaxjam.cli.survey.run import SurveyMismatchError, finished, run_survey

__all__ = ["BadRow", "CatalogError", "Entry", "SurveyMismatchError", "finished", "read_catalog",
           "run_survey"]  # fmt: skip
