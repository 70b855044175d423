"""Operations: Prometheus metrics (`metrics`), health endpoints for load balancers (`health`), and a
JSON-lines log formatter (`logs`). Mount the endpoints with `path("realtime/", include("realtime.urls"))`
(they live under `ops/` there); docs/operations.md says how to scrape and probe them."""
