"""What a downloadable table is: documented columns and a generator of rows (analysis/rows.py
lists the tables; their columns feed the Psych-DS variableMeasured, the API schema and
docs/data-dictionary.md)."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # integer, number, string, boolean, datetime, json
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple
    rows: Callable[..., Iterator[tuple]] = field(compare=False)

    @property
    def column_names(self):
        return [column.name for column in self.columns]


# Columns several tables share, defined once so their descriptions cannot drift apart.
STUDY_COLUMN = Column("study", "string", "the study's public code")
PARTICIPANT_COLUMN = Column("participant", "integer", "uxlab's participant number (never a panel id)")
TRIAL_INDEX_COLUMN = Column("trial_index", "integer", "position of the trial in the participant's sequence, from 0")
EXCLUDED_COLUMN = Column("excluded", "boolean", "left out of the analysis by the exclusion rules in force")
EXCLUSION_REASONS_COLUMN = Column("exclusion_reasons", "string", "the rules that exclude the row, separated by ';'")
