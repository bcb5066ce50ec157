"""Prometheus metrics: by route template and status; upstream errors on the gateway."""

from __future__ import annotations

from conftest import closed_port


def test_requests_are_counted_by_route_template(client, upstream):
    client.get("/api/items/41")
    client.get("/api/items/42")
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'http_requests_total{method="GET",route="/api/<path:rest>",service="gateway",status="200"}'
        in text
    )
    assert "/api/items/41" not in text
    bucket = 'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/<path:rest>"'
    assert bucket in text


def test_upstream_errors_are_counted(make_app):
    client = make_app(CONTENT_SERVICE_URL=f"http://127.0.0.1:{closed_port()}").test_client()
    client.get("/api/items")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'gateway_upstream_errors_total{kind="connection",upstream="content"}' in text
    assert 'gateway_circuit_state{upstream="content"}' in text
