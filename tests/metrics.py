"""Reading /metrics in tests: the exposition parsed as Prometheus parses it."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

TEST_TOKEN = "metrics-token-for-tests"


def scrape(client, token: str = TEST_TOKEN) -> dict:
    """{family name: {(sample name, sorted label items): value}} of one scrape."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain; version=")
    return families(response.content.decode())


def families(text: str) -> dict:
    found = {}
    for family in text_string_to_metric_families(text):
        found[family.name] = {(s.name, tuple(sorted(s.labels.items()))): s.value
                              for s in family.samples}
    return found


def value(scraped: dict, family: str, sample: str | None = None, **labels) -> float:
    """One sample's value; 0 when the series is not there yet."""
    wanted = (sample or family, tuple(sorted((k, str(v)) for k, v in labels.items())))
    return scraped[family].get(wanted, 0.0)
