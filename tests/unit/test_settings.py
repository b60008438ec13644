"""Settings: one object read from the environment template.yaml sets; bad values name the variable."""

import pytest
from pydantic import ValidationError

from mmapi.simulator.config import SimulatorConfig
from mmapi.stack import load_template
from mmcore.settings import Settings


def test_defaults_are_usable_without_any_environment():
    settings = Settings()
    assert settings.graph_url == "https://graph.facebook.com/v25.0"
    assert settings.default_product_policy == "CLOUD_API_FALLBACK"
    assert settings.ttl_on_wire is False
    assert settings.retry_unknown is False


def test_one_default_graph_version_everywhere_and_it_is_one_meta_still_serves():
    # v25.0: recommended by Meta, available until Jul 29, 2028; v23 ends Oct 8, 2027 (meta-2026-updates s. 1)
    template = load_template()["Parameters"]["GraphApiVersion"]["Default"]
    assert Settings().graph_api_version == template == SimulatorConfig().graph_version == "v25.0"


def test_environment_variables_named_as_in_the_template(monkeypatch):
    monkeypatch.setenv("GRAPH_BASE_URL", "http://127.0.0.1:9999/")
    monkeypatch.setenv("GRAPH_API_VERSION", "v23.0")
    monkeypatch.setenv("BUSINESS_COUNTRY", "de")
    monkeypatch.setenv("THROUGHPUT_MPS", "1000")
    monkeypatch.setenv("SEND_MAX_CONCURRENCY", "4")
    monkeypatch.setenv("TTL_ON_WIRE", "true")
    settings = Settings()
    assert settings.graph_url == "http://127.0.0.1:9999/v23.0"
    assert settings.business_country == "DE"
    assert settings.per_invocation_mps == 250
    assert settings.ttl_on_wire is True


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("GRAPH_API_VERSION", "24"),
        ("BUSINESS_COUNTRY", "India"),
        ("THROUGHPUT_MPS", "0"),
        ("DEFAULT_PRODUCT_POLICY", "LOOSE"),
        ("PHONE_NUMBER_ID", "abc"),
    ],
)
def test_bad_value_is_rejected_naming_the_setting(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert var.lower() in str(exc.value)
