from tests.jobs.conftest import make_job, reload, test_kind  # noqa: F401 - the job engine's fixtures
from tests.server_process import server_factory  # noqa: F401 - fixture
