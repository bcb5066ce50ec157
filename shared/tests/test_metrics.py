"""Request metrics by route template and status, served at /metrics."""

from __future__ import annotations

from flask import Flask

from shared.metrics import init_metrics


def test_requests_are_counted_by_route_template_and_status():
    app = Flask("metrics_probe")
    app.config["SERVICE_NAME"] = "probe"
    init_metrics(app)

    @app.get("/things/<int:thing_id>")
    def thing(thing_id: int) -> dict:
        return {"id": thing_id}

    client = app.test_client()
    client.get("/things/1")
    client.get("/things/2")
    client.get("/missing")
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'http_requests_total{method="GET",route="/things/<int:thing_id>",service="probe",'
        'status="200"} 2.0' in text
    )
    assert 'route="<unmatched>",service="probe",status="404"' in text
    assert 'http_request_duration_seconds_count{method="GET",route="/things/<int:thing_id>"' in text
    assert "/things/1" not in text
