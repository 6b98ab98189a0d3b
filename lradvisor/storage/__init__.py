"""The study database: Optuna's RDB storage behind one SQLAlchemy URL.

Every study lives in a SQL database. The default is an embedded SQLite file,
``sqlite:///studies/lradvisor.db`` relative to where the command runs; ``--storage``
or ``$LRADVISOR_STORAGE`` name another (PostgreSQL works through the same URL form,
``postgresql+psycopg://user@host/db``). Storage is opened in exactly one place,
:func:`open_storage`, so a schema lock and worker heartbeats can be added there.

What a study records (as JSON user attributes, readable by plain Optuna):

* study: ``study_uid`` (a random id written at creation: a study made again under
  its name is another study, even with the same id), ``profile``, ``fidelity``,
  ``plan``, ``rules`` (ids that fired), ``rules_recommendations``, ``prior``,
  ``full_steps``, ``trainable``, ``workload``,
  ``recommendation`` (the final one, for the full length, with its evidence);
* trial: ``spec`` (ScheduleSpec JSON), ``rung``, ``fidelity``, ``total_steps``,
  ``seed``, ``origin``, ``parent`` (the trial it was promoted from), ``steps_used``,
  ``error`` (failed trials), ``diverged``; its curve is Optuna's intermediate values.

Example:
    >>> storage = open_storage("sqlite://")  # an in-memory database
    >>> study = get_study(storage, "demo", direction="minimize")
    >>> [s.study_name for s in list_studies(storage)]
    ['demo']
"""

from lradvisor.storage._open import (
    DEFAULT_STORAGE,
    STORAGE_ENV,
    open_storage,
    require_storage,
    resolve_url,
)
from lradvisor.storage._overview import StudyOverview, study_overviews
from lradvisor.storage._studies import (
    STUDY_UID,
    delete_study,
    existing_study_id,
    get_study,
    list_studies,
    load_study,
    stamp_study,
    study_attrs,
    study_identity,
)
from lradvisor.storage._trials import (
    buffered_params,
    create_trial,
    finish_trial,
    write_trial_batch,
)

__all__ = [
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "STUDY_UID",
    "StudyOverview",
    "buffered_params",
    "create_trial",
    "delete_study",
    "existing_study_id",
    "finish_trial",
    "get_study",
    "list_studies",
    "load_study",
    "open_storage",
    "require_storage",
    "resolve_url",
    "stamp_study",
    "study_attrs",
    "study_identity",
    "study_overviews",
    "write_trial_batch",
]
