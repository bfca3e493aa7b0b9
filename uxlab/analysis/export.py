"""Export writers: each takes rows and a file object, so they serve downloads and files alike."""

import csv

from uxlab.analysis.rows import RATING_COLUMNS


def write_ratings_csv(rows, file):
    """Write the ratings table (header first) to a text file object."""
    writer = csv.DictWriter(file, fieldnames=RATING_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


class _PassThrough:
    """A file object whose write returns the text, so csv can feed a streaming response."""

    def write(self, value):
        return value


def iter_ratings_csv(rows):
    """The ratings table as CSV text, one line at a time, with flat memory use."""
    writer = csv.DictWriter(_PassThrough(), fieldnames=RATING_COLUMNS, lineterminator="\n")
    yield writer.writeheader()
    for row in rows:
        yield writer.writerow(row)
