"""Study-as-code: the YAML study file, its validation, and import into / export from the database.

A file is checked in full before anything is written, and every problem is reported as
``path: message`` (``arms[1].tokens_per_second: must be > 0``) so a researcher can fix them all at once.
See docs/study-format.md for the format.

- ``fields``: the study file's field types (codes, names) and the cross-references between names;
- ``arms``: the arms section, built from the registered arm kinds (streaming/kinds);
- ``schema``: the models of the file's sections, ``StudyDefinition``, and parsing;
- ``errors``: pydantic's errors as ``path: message`` lines;
- ``importer``: a definition into the database; ``exporter``: a study back to YAML.
"""

from uxlab.streaming.kinds.synthetic import PROFILE_FIELDS
from uxlab.studies.study_files.errors import StudyFileError, format_validation_errors
from uxlab.studies.study_files.exporter import export_study, profile_from_arm
from uxlab.studies.study_files.importer import import_study
from uxlab.studies.study_files.schema import (
    FORMAT_VERSION,
    PER_PANE_BY_DEFAULT,
    PRACTICE_PROMPT_NAME,
    QUESTION_OPTIONS,
    AnyArmSpec,
    ArmSpec,
    AttentionCheckSpec,
    CompletionSpec,
    ConsentSpec,
    DesignSpec,
    PracticeSpec,
    PromptSpec,
    QuestionSpec,
    StudyDefinition,
    parse_study_yaml,
    validate_study_data,
)

__all__ = [
    "FORMAT_VERSION",
    "PER_PANE_BY_DEFAULT",
    "PRACTICE_PROMPT_NAME",
    "PROFILE_FIELDS",
    "QUESTION_OPTIONS",
    "AnyArmSpec",
    "ArmSpec",
    "AttentionCheckSpec",
    "CompletionSpec",
    "ConsentSpec",
    "DesignSpec",
    "PracticeSpec",
    "PromptSpec",
    "QuestionSpec",
    "StudyDefinition",
    "StudyFileError",
    "export_study",
    "format_validation_errors",
    "import_study",
    "parse_study_yaml",
    "profile_from_arm",
    "validate_study_data",
]
