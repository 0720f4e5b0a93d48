"""Reading Prometheus text exposition with prometheus-client's own parser (what a scraper would see)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from signalhub.core import metrics


def parse(text: str) -> dict[str, list[Sample]]:
    """Samples by sample name (e.g. `signalhub_http_requests_total`); raises ValueError on malformed text."""
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list[Sample]], sample: str, **labels: str) -> float:
    """The value of the one sample with exactly these labels (0 when it is absent)."""
    found = [s.value for s in samples.get(sample, []) if s.labels == labels]
    assert len(found) <= 1, found
    return found[0] if found else 0.0


def current(sample: str, **labels: str) -> float:
    """A sample's value in this process right now (0 when it does not exist yet)."""
    return metrics.collecting_registry().get_sample_value(sample, labels) or 0.0
