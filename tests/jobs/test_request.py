"""The request types: one place for each job's parameters and defaults, and the errors a
caller gets for an unknown or missing option."""

from __future__ import annotations

import dataclasses

import pytest

from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.jobs.packaging import PackageRequest
from pyfunc_ops.jobs.request import field_names, make_request, option_defaults, required_fields
from pyfunc_ops.jobs.scoring import DEFAULT_BATCH_SIZE, ScoreFilesRequest, score_files
from pyfunc_ops.jobs.spark import ScoreSparkRequest


@pytest.mark.parametrize("request_type", [ScoreFilesRequest, ScoreSparkRequest, PackageRequest])
def test_requests_are_frozen_dataclasses(request_type: type) -> None:
    assert dataclasses.is_dataclass(request_type)
    assert request_type.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_helpers_read_the_fields() -> None:
    assert required_fields(ScoreFilesRequest) == ("model_uri", "input_url", "output_url")
    assert field_names(ScoreFilesRequest)[:4] == (
        "model_uri",
        "input_url",
        "output_url",
        "batch_size",
    )
    defaults = option_defaults(ScoreFilesRequest)
    assert defaults["batch_size"] == DEFAULT_BATCH_SIZE == 10_000
    assert set(defaults) == set(field_names(ScoreFilesRequest)) - {
        "model_uri",
        "input_url",
        "output_url",
    }


def test_unknown_and_missing_options_are_named() -> None:
    with pytest.raises(
        InvalidParameterError, match=r"score_files: unknown option\(s\) \['batch'\]"
    ):
        score_files("m", "in", "out", batch=5)
    with pytest.raises(
        InvalidParameterError, match=r"missing required option\(s\) \['output_url'\]"
    ):
        make_request(ScoreFilesRequest, "job", {"model_uri": "m", "input_url": "i"})


@pytest.mark.parametrize("size", [0, -1, True, 2.5, "10"])
def test_batch_size_is_checked_by_the_request(size: object) -> None:
    with pytest.raises(InvalidParameterError, match="batch_size must be a positive number"):
        ScoreFilesRequest("m", "i", "o", batch_size=size)  # type: ignore[arg-type]


LOADING_REQUESTS = {
    ScoreFilesRequest: {"model_uri": "m", "input_url": "i", "output_url": "o"},
    ScoreSparkRequest: {"model_uri": "m", "input_path": "i", "output_path": "o"},
}


def _loading_requests() -> dict[type, dict[str, str]]:
    from pyfunc_ops.jobs.evaluation import EvaluateRequest

    return {**LOADING_REQUESTS, EvaluateRequest: {"model_uri": "m", "data_url": "d", "target": "y"}}


def test_every_loading_request_shares_the_load_options() -> None:
    from pyfunc_ops.jobs.request import LoadOptions

    shared = option_defaults(LoadOptions)
    assert set(shared) == {"env_manager", "trust_remote_code", "skops_trusted_types", "params"}
    for request_type, required in _loading_requests().items():
        assert issubclass(request_type, LoadOptions)
        defaults = option_defaults(request_type)
        assert {name: defaults[name] for name in shared} == shared
        # The job's own fields first, the shared ones last.
        assert field_names(request_type)[0] == "model_uri"
        assert field_names(request_type)[-len(shared) :] == tuple(shared)
        request = make_request(request_type, "job", {**required, "params": {"t": 1}})
        assert request.load_kwargs() == {
            "env_manager": "local",
            "trust_remote_code": None,
            "skops_trusted_types": None,
        }


@pytest.mark.parametrize("job", ["score_files", "score_spark", "evaluate_model"])
def test_load_options_are_checked_for_every_job(job: str) -> None:
    request_type, required = next(
        (t, r)
        for t, r in _loading_requests().items()
        if t.job == job  # type: ignore[attr-defined]
    )
    with pytest.raises(InvalidParameterError, match="params must be a mapping"):
        request_type(**required, params=[1, 2])
    with pytest.raises(InvalidParameterError, match=rf"^{job}: trust_remote_code must be"):
        request_type(**required, trust_remote_code="yes")
