"""The auth manager of the registry view's browser test: Airflow's SimpleAuthManager, but
the user ``outsider`` may not read any DAG (every SimpleAuthManager role can), so the test
can show that such a user sees nothing."""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager


class NoDagsForOutsiders(SimpleAuthManager):
    def is_authorized_dag(self, *, method: Any, user: Any, **kwargs: Any) -> bool:
        if user.get_name() == "outsider":
            return False
        return super().is_authorized_dag(method=method, user=user, **kwargs)
